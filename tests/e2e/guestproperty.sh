#!/usr/bin/env bash
# guestproperty and showvminfo's network adapters on a real TCG guest whose virtio NIC is on a
# libvirt NAT network defined here (a free 192.168.x.0/24, dnsmasq for DHCP; removed in the
# cleanup): `guestproperty wait` sees the guest's DHCP address appear, `get` returns the
# address libvirt leased (VBoxManageGuestProp.cpp handleWaitGuestProperty /
# handleGetGuestProperty), and showvminfo --machinereadable reports the NIC as VirtualBox's
# NAT adapter with its MAC (VBoxManageInfo.cpp showVMInfo).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
e2e_nat_network
net=$E2E_NET subnet=$E2E_NET_SUBNET

d=$(define_guest net --network "$net")
mac=$(virsh_q domiflist "$d" | awk '{print $5}')
[[ $mac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || fail "no MAC in domiflist: '$mac'"
vbox_mac=$(tr -d : <<<"${mac^^}")

# showVMInfo: NIC 1 is NAT on the network's subnet; a q35 machine (ICH9) has 36 slots.
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" "natnet1=\"192.168.$subnet.0/24\"
macaddress1=\"$vbox_mac\"
cableconnected1=\"on\"
nic1=\"nat\"
nictype1=\"virtio\"
nicspeed1=\"0\""
assert_contains "$OUT" 'nic2="none"'
assert_contains "$OUT" 'nic36="none"'
assert_not_contains "$OUT" 'nic37='
assert_exit 0 vbm showvminfo "$d"
assert_contains "$OUT" "NIC 1:                       MAC: $vbox_mac, Attachment: NAT, Cable connected: on,"

# Not running: no live properties.
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/V4/IP
assert_eq "No value set!" "$OUT" "no address while powered off"

# wait, started before the guest: it reports the address when the guest's DHCP lease appears.
vbm guestproperty wait "$d" /VirtualBox/GuestInfo/Net/0/V4/IP --timeout 180000 \
  --fail-on-timeout >"$E2E_TMP/wait.out" 2>"$E2E_TMP/wait.err" &
waiter=$!
e2e_on_cleanup "kill $waiter 2>/dev/null || true"
start_guest "$d"
wait_guest_ready "$d"
rc=0
wait "$waiter" || rc=$?
assert_eq 0 "$rc" "guestproperty wait's exit status (stderr: $(cat "$E2E_TMP/wait.err"))"
lease=$(virsh_q net-dhcp-leases "$net" --mac "$mac" | awk '{print $5}' | cut -d/ -f1)
[[ $lease == 192.168.$subnet.* ]] || fail "libvirt has no lease for $mac: '$lease'"
assert_eq "Name: /VirtualBox/GuestInfo/Net/0/V4/IP, value: $lease, flags: " "$(cat "$E2E_TMP/wait.out")"

assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/V4/IP
assert_eq "Value: $lease" "$OUT" "the leased address"
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/MAC
assert_eq "Value: $vbox_mac" "$OUT"
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/Status
assert_eq "Value: Up" "$OUT"
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/V4/Netmask
assert_eq "Value: 255.255.255.0" "$OUT"
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/Count
assert_eq "Value: 1" "$OUT"
# No Guest Additions, no guest agent: VirtualBox's empty value, exit 0.
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestAdd/Version
assert_eq "No value set!" "$OUT"
# A stored value, and a TRANSIENT one that lives for this run only.
assert_exit 0 vbm guestproperty set "$d" /My/Key hello
assert_exit 0 vbm guestproperty set "$d" /My/Run here --flags TRANSIENT
assert_exit 0 vbm guestproperty enumerate "$d" --no-timestamp '/My/*'
assert_eq "/My/Key = 'hello'
/My/Run = 'here'   TRANSIENT" "$OUT"

assert_exit 0 vbm controlvm "$d" poweroff
assert_exit 0 vbm guestproperty get "$d" /VirtualBox/GuestInfo/Net/0/V4/IP
assert_eq "No value set!" "$OUT" "no address once powered off"
assert_exit 0 vbm guestproperty enumerate "$d" --old-format
assert_contains "$OUT" "Name: /My/Key, value: hello, timestamp: "
assert_not_contains "$OUT" "/My/Run"
