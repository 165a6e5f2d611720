#!/usr/bin/env bash
# Real clients, unmodified, drive an existing libvirt guest through vboxmanage installed as
# VBoxManage on PATH (issue 19): Ansible's community.general.virtualbox inventory plugin, which
# finds the guest in `list -l vms` and its address with `guestproperty get …/Net/0/V4/IP`;
# Vagrant 2.3.4's VirtualBox driver classes reading state, MAC, NICs and the guest's IP; and
# the `vagrant` command on a machine whose id is the domain's UUID: status, suspend (controlvm
# savestate), resume (startvm; its wait for SSH then times out, as the tiny guest has no SSH
# server), halt (controlvm poweroff).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
command -v vagrant >/dev/null || skip "vagrant is not installed (scripts/install-deps.sh)"
command -v ansible-inventory >/dev/null || skip "ansible is not installed (scripts/install-deps.sh)"
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
e2e_nat_network

# The clients find VBoxManage on PATH; it talks to this test's libvirtd and store.
mkdir -p "$E2E_TMP/bin"
ln -s "$VBM" "$E2E_TMP/bin/VBoxManage"
export PATH="$E2E_TMP/bin:$PATH" LIBVIRT_DEFAULT_URI="$LIBVIRT_URI"
export VAGRANT_HOME="$E2E_TMP/vagrant.d" VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1

d=$(define_guest clients --network "$E2E_NET" --memory 192)
uuid=$(virsh_q domuuid "$d")
assert_exit 0 vbm startvm "$d" --type headless
wait_guest_ready "$d"

# ---- Ansible: the inventory plugin's host, address and variables -------------------------
printf 'plugin: community.general.virtualbox\n' >"$E2E_TMP/vbox.yml"
has_address() {
  ANSIBLE_INVENTORY_ENABLED=community.general.virtualbox \
    ansible-inventory -i "$E2E_TMP/vbox.yml" --list >"$E2E_TMP/inventory.json" 2>"$E2E_TMP/inventory.err" &&
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["_meta"]["hostvars"][sys.argv[2]]; sys.exit(0 if "ansible_host" in v else 1)' \
      "$E2E_TMP/inventory.json" "$d"
}
wait_until 120 has_address ||
  fail "ansible-inventory never gave $d an address: $(cat "$E2E_TMP/inventory.err" "$E2E_TMP/inventory.json")"
mac=$(virsh_q domiflist "$d" | awk '{print $5}')
lease=$(virsh_q net-dhcp-leases "$E2E_NET" --mac "$mac" | awk '{print $5}' | cut -d/ -f1)
hostvar() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["_meta"]["hostvars"][sys.argv[2]].get(sys.argv[3], ""))' \
    "$E2E_TMP/inventory.json" "$d" "$1"
}
assert_eq "$lease" "$(hostvar ansible_host)" "Ansible's ansible_host = libvirt's DHCP lease"
assert_eq "192MB" "$(hostvar vbox_Memory_size)" "Ansible's vbox_Memory_size"
assert_eq "$uuid" "$(hostvar vbox_UUID)" "Ansible's vbox_UUID"

# ---- Vagrant's driver classes (VirtualBox provider, Driver::Meta → Version_7_0) -------------
assert_exit 0 ruby "$(dirname "$0")/vagrant_driver.rb" "$uuid"
assert_contains "$OUT" "state=running"
assert_contains "$OUT" "mac=$(tr -d : <<<"${mac^^}")"
assert_contains "$OUT" "nic1={:type=>:nat}"
assert_contains "$OUT" "ip=$lease"

# ---- Vagrant: an existing machine is the domain -------------------------------------------
proj=$E2E_TMP/vagrant
mkdir -p "$proj/.vagrant/machines/default/virtualbox"
printf '%s' "$uuid" >"$proj/.vagrant/machines/default/virtualbox/id"
cat >"$proj/Vagrantfile" <<'RUBY'
Vagrant.configure("2") do |config|
  config.vm.box = "vboxkvm/existing"
  config.vm.provider "virtualbox"
  # The tiny guest runs no SSH server: Vagrant's wait for it after a boot gives up at once.
  config.vm.boot_timeout = 5
end
RUBY
vagrant_state() {
  (cd "$proj" && vagrant status --machine-readable 2>"$E2E_TMP/vagrant.err") |
    awk -F, '$3 == "state" { print $4 }'
}
vagrant_run() {
  local rc=0
  (cd "$proj" && vagrant "$@" >"$E2E_TMP/vagrant.out" 2>&1) || rc=$?
  ((rc == 0)) || fail "vagrant $* failed ($rc): $(cat "$E2E_TMP/vagrant.out")"
}
assert_eq running "$(vagrant_state)" "vagrant status (stderr: $(cat "$E2E_TMP/vagrant.err"))"
vagrant_run suspend
assert_eq saved "$(vagrant_state)" "vagrant status after suspend"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" 'VMState="saved"'
# resume boots the saved VM (startvm), then waits for SSH, which the tiny guest lacks: the
# command fails on that wait alone, after the VM runs again.
rc=0
(cd "$proj" && vagrant resume >"$E2E_TMP/vagrant.out" 2>&1) || rc=$?
assert_eq 1 "$rc" "vagrant resume's exit status (output: $(cat "$E2E_TMP/vagrant.out"))"
assert_contains "$(cat "$E2E_TMP/vagrant.out")" "Timed out while waiting for the machine to boot"
assert_eq running "$(vagrant_state)" "vagrant status after resume"
[[ $(virsh_q domstate "$d") == running ]] || fail "$d is not running after vagrant resume"
vagrant_run halt
assert_eq poweroff "$(vagrant_state)" "vagrant status after halt"
[[ $(virsh_q domstate "$d") == "shut off" ]] || fail "$d is not shut off after vagrant halt"
