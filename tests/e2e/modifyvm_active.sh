#!/usr/bin/env bash
# The shutdown-only rule on a real booted guest: running and paused domains are "locked for a
# session" and left exactly as they were; a managed-save image makes the VM Saved, which gets
# the "not mutable" messages; after power-off the same modifyvm works.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
inactive_xml() { virsh_q dumpxml --inactive "$1"; }
store_rows() { sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "SELECT key, value FROM vm_setting ORDER BY key"; }

d=$(define_guest live --memory 256)
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon 64
start_guest "$d"
wait_guest_ready "$d"
# The configured balloon is in effect from the start: libvirt's target is <currentMemory>.
wait_until 30 bash -c "[ \"\$(virsh -q -c '$LIBVIRT_URI' dommemstat '$d' | awk '\$1==\"actual\"{print \$2}')\" = $(((256 - 64) * 1024)) ]" ||
  fail "the guest's balloon did not reach 256-64 MiB after start"

xml_before=$(inactive_xml "$d")
rows_before=$(store_rows)
assert_exit 1 vbm modifyvm "$d" --memory 512 --guest-memory-balloon 100 --page-fusion off --large-pages off
assert_eq "VBoxManage: error: The machine '$d' is already locked for a session (or being unlocked)" \
  "$(head -1 <<<"${ERR//vboxmanage:/VBoxManage:}")"
assert_contains "$ERR" "error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports"
assert_contains "$ERR" "error: Context: \"LockMachine(a->session, LockType_Write)\""
assert_exit 1 vbm modifyvm "$d" --large-pages maybe # the lock wins over bad options
assert_contains "$ERR" "already locked for a session"
assert_eq "$xml_before" "$(inactive_xml "$d")" "refused modifyvm left the domain unchanged"
assert_eq "$rows_before" "$(store_rows)" "refused modifyvm left the store unchanged"

assert_exit 0 vbm list runningvms
assert_contains "$OUT" "\"$d\""
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" 'VMState="running"'
# showVMInfo with a session: IGuest's run level 0 (no Guest Additions on KVM), no state file.
assert_contains "$OUT" $'GuestMemoryBalloon=64\nGuestAdditionsRunLevel=0'
assert_not_contains "$OUT" "VMStateFile="

virsh_q suspend "$d" >/dev/null
assert_exit 1 vbm modifyvm "$d" --memory 300
assert_contains "$ERR" "already locked for a session"
assert_exit 0 vbm list runningvms
assert_contains "$OUT" "\"$d\"" "paused VMs are listed as running, as in VirtualBox"
virsh_q resume "$d" >/dev/null

# Saved: a managed-save image.
virsh_q managedsave "$d" >/dev/null
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" 'VMState="saved"'
# showVMInfo's VMStateFile (machine-readable only): libvirt's managed-save image, where the
# QEMU driver keeps it when libvirtd runs privileged (local qemu:///system only).
if [[ $LIBVIRT_URI == qemu:///system ]]; then
  assert_contains "$OUT" "VMStateFile=\"/var/lib/libvirt/qemu/save/$d.save\""
  [[ -s /var/lib/libvirt/qemu/save/$d.save ]] || fail "the state file showvminfo names does not exist"
else
  assert_not_contains "$OUT" "VMStateFile=" "the path is not known on $LIBVIRT_URI"
fi
assert_exit 0 vbm showvminfo "$d"
assert_not_contains "$OUT" "/save/" "no human state-file line"
assert_exit 1 vbm modifyvm "$d" --page-fusion on
assert_eq "error: The machine is not mutable (state is Saved)" "$(head -1 <<<"$ERR" | sed 's/^[^:]*: //')"
assert_contains "$ERR" "Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), component SessionMachine, interface IMachine"
assert_exit 1 vbm modifyvm "$d" --guest-memory-balloon 10
assert_eq "error: The machine is not mutable or running (state is Saved)" "$(head -1 <<<"$ERR" | sed 's/^[^:]*: //')"
assert_eq "$xml_before" "$(inactive_xml "$d")" "a Saved VM was not changed"
virsh_q managedsave-remove "$d" >/dev/null

# Powered off again: the same command now applies.
assert_exit 0 vbm modifyvm "$d" --memory 512 --guest-memory-balloon 100 --page-fusion off --large-pages off
assert_contains "$(inactive_xml "$d")" "<memory unit='KiB'>524288</memory>"
assert_contains "$(inactive_xml "$d")" "<currentMemory unit='KiB'>421888</currentMemory>"
