#!/usr/bin/env bash
# controlvm's power verbs on a real TCG guest, as VirtualBox's handleControlVM and Console
# answer them: pause twice (the second is "Already paused", exit 1, the guest stays paused);
# savestate (the progress line on stderr, showvminfo says saved, libvirt holds a managed save,
# startvm brings the guest back where it was: its workload still holds its memory and its clock
# goes on, no new boot); reset (the guest really boots again); shutdown --force (the guest powers
# itself off on libvirt's request, by its ACPI power button).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
domstate_is() { [[ $(virsh_q domstate "$1" 2>/dev/null) == "$2" ]]; }
managed_save() { virsh_q dominfo "$1" | awk -F': *' '$1 == "Managed save" { print $2 }'; }
progress='0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%'

e2e_guest_image
g=$(define_guest power --memory 192 --control)
log=$(guest_serial_log "$g")
# since OFFSET: the console written after byte OFFSET (all of it if a new QEMU truncated it).
since() {
  local size
  size=$(stat -c %s "$log")
  if ((size < $1)); then cat "$log"; else tail -c +$(($1 + 1)) "$log"; fi
}
booted_since() { since "$1" | grep -aq 'VBOXKVM-GUEST-READY'; }
# load_lines_since OFFSET: memload's VBM-LOAD lines written after OFFSET.
load_lines_since() { since "$1" | grep -ao 'VBM-LOAD t=.*' | tr -d '\r'; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
t_of() { sed -n 's/^VBM-LOAD t=\([0-9]*\) .*/\1/p' <<<"$1"; }

assert_exit 0 vbm startvm "$g"
wait_guest_ready "$g"

# ---- pause twice: Console::i_pause's "Already paused" --------------------------------------
assert_exit 0 vbm controlvm "$g" pause
assert_eq "" "$OUT$ERR" "controlvm pause output"
domstate_is "$g" paused || fail "$g is '$(virsh_q domstate "$g")' after controlvm pause"
assert_exit 1 vbm controlvm "$g" pause
assert_eq "" "$OUT" "second pause: stdout"
assert_eq "VBoxManage: error: Already paused
VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), component ConsoleWrap, interface IConsole, callee nsISupports
VBoxManage: error: Context: \"Pause()\" at line 390 of file VBoxManageControlVM.cpp" "$ERR" "second pause: stderr"
domstate_is "$g" paused || fail "$g is '$(virsh_q domstate "$g")' after the second pause"
assert_exit 1 vbm controlvm "$g" acpipowerbutton
assert_eq "VBoxManage: error: Invalid machine state: Paused" "$(head -n 1 <<<"$ERR")" "power button while paused"
domstate_is "$g" paused || fail "the refused power button changed the state of $g"
assert_exit 0 vbm controlvm "$g" resume
domstate_is "$g" running || fail "$g is '$(virsh_q domstate "$g")' after controlvm resume"
assert_exit 1 vbm controlvm "$g" resume
assert_eq "VBoxManage: error: Cannot resume the machine as it is not paused (machine state: Running)" \
  "$(head -n 1 <<<"$ERR")" "resume while running"

# ---- savestate, then startvm restores -------------------------------------------------------
# The workload takes 16 MiB and holds it, logging its demand and clock every second.
guest_load "$g" 'a16,h600' >/dev/null
holding() { load_lines_since 0 | grep -q ' op=demand demand=16$'; }
wait_until 60 holding || fail "memload of $g does not hold 16 MiB (see $log)"
t_saved=$(t_of "$(load_lines_since 0 | tail -n 1)")
t0=${EPOCHREALTIME//[.,]/}
assert_exit 0 vbm controlvm "$g" savestate
e2e_log "savestate took $(((${EPOCHREALTIME//[.,]/} - t0) / 1000)) ms"
assert_eq "" "$OUT" "savestate: stdout"
assert_eq "$progress" "$ERR" "savestate: the progress line on stderr"
domstate_is "$g" "shut off" || fail "$g is '$(virsh_q domstate "$g")' after savestate"
assert_eq yes "$(managed_save "$g")" "libvirt's managed save after savestate"
assert_exit 0 vbm showvminfo "$g" --machinereadable
assert_contains "$OUT" 'VMState="saved"'
assert_exit 0 vbm showvminfo "$g"
assert_contains "$OUT" $'\nState:                       saved (since '
assert_exit 1 vbm controlvm "$g" pause
assert_eq "VBoxManage: error: Machine '$g' is not currently running." "$ERR"
off=$(stat -c %s "$log")
assert_exit 0 vbm startvm "$g"
assert_eq "Waiting for VM \"$g\" to power on...
VM \"$g\" has been successfully started." "$OUT" "startvm of a saved VM"
domstate_is "$g" running || fail "$g is '$(virsh_q domstate "$g")' after startvm"
assert_eq no "$(managed_save "$g")" "the managed save is used up by startvm"
# Restored, not booted: memload still holds its 16 MiB and its clock goes on from the save.
restored() {
  local line
  line=$(load_lines_since "$off" | grep ' op=demand ' | tail -n 1)
  [[ -n $line ]] && (($(t_of "$line") > t_saved))
}
wait_until 30 restored || fail "no demand line after the restore (see $log)"
line=$(load_lines_since "$off" | grep ' op=demand ' | tail -n 1)
assert_eq 16 "$(field "$line" demand)" "the restored guest's workload holds what it held"
! booted_since "$off" || fail "$g booted again instead of being restored"
e2e_log "restored: memload's clock went on from ${t_saved} ms to $(t_of "$line") ms"

# ---- reset: the guest boots again -------------------------------------------------------------
off=$(stat -c %s "$log")
assert_exit 0 vbm controlvm "$g" reset extra words
assert_eq "" "$OUT$ERR" "controlvm reset output"
wait_until 60 booted_since "$off" || fail "$g did not boot again within 60 s of controlvm reset"
e2e_log "reset: the guest was ready again ${WAITED_MS} ms after controlvm reset"
domstate_is "$g" running || fail "$g is '$(virsh_q domstate "$g")' after reset"
# A fresh workload: memload starts anew (resume=0) without the 16 MiB it held.
started_since() { load_lines_since "$1" | grep -q ' op=start '; }
wait_until 30 started_since "$off" || fail "memload did not start again after reset (see $log)"
start=$(load_lines_since "$off" | grep ' op=start ' | tail -n 1)
assert_eq 0 "$(field "$start" resume)" "a fresh memload after the reboot"
assert_eq 0 "$(field "$start" demand)" "the rebooted guest's workload holds nothing"

# ---- shutdown --force: the guest powers itself off --------------------------------------------
# It needs the guest's ACPI button and evdev drivers (scripts/build-tiny-guest.sh's optional
# modules): without them the request is ignored, as on a real guest without ACPI.
config=$(dirname "$GUEST_KERNEL")/kernel-config
has_driver() { # has_driver CONFIG_NAME MODULE
  grep -q "^$1=y" "$config" ||
    { grep -q "^$1=m" "$config" && gzip -dcf "$GUEST_INITRD_BALLOON" | cpio -t --quiet 2>/dev/null |
      grep -qx "lib/modules/$2.ko"; }
}
if has_driver CONFIG_ACPI_BUTTON button && has_driver CONFIG_INPUT_EVDEV evdev; then
  off=$(stat -c %s "$log")
  assert_exit 0 vbm controlvm "$g" shutdown --force
  assert_eq "" "$OUT$ERR" "controlvm shutdown output"
  wait_until 30 domstate_is "$g" "shut off" || fail "$g did not power off within 30 s of controlvm shutdown"
  e2e_log "shutdown: the guest was off ${WAITED_MS} ms after controlvm shutdown"
  since "$off" | grep -aq VBOXKVM-GUEST-POWEROFF || fail "$g was stopped, but not by its own power-off"
  assert_exit 0 vbm showvminfo "$g" --machinereadable
  assert_contains "$OUT" 'VMState="poweroff"'
else
  skip "the tiny guest has no ACPI button or evdev driver ($config), so controlvm shutdown was not checked; the rest passed"
fi
