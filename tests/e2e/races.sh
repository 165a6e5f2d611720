#!/usr/bin/env bash
# Races with other writers of the same domain, each interleaved deterministically: modifyvm is
# stopped at a pause point (VBOXKVM_PAUSE_AT, sys::pause_point), the other party acts, then
# modifyvm goes on.
#  1. virsh edits made while modifyvm changes <memory> (libvirt's own calls) survive;
#  2. virsh edits made while modifyvm changes <memoryBacking> (a whole definition, read again
#     just before it is written) survive;
#  3. vboxmanage startvm queues behind modifyvm on the session lock: the VM starts with the
#     new settings, not the old;
#  4. a VM started by another tool (virsh start) meanwhile makes modifyvm fail with the lock
#     error, and nothing is written to the VM or the store.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
d=$(define_guest race --memory 256)
sql() { sqlite3 -cmd '.timeout 10000' "$VBOX_USER_HOME/vboxkvm.db" "$1"; }

is_stopped() { [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == T ]]; }
# paused POINT ARGS...: runs vboxmanage ARGS in the background until it stops at POINT.
paused() {
  local point=$1
  shift
  VBOXKVM_PAUSE_AT=$point "$VBM" --connect "$LIBVIRT_URI" "$@" \
    >"$E2E_TMP/paused.out" 2>"$E2E_TMP/paused.err" &
  PAUSED=$!
  wait_until 20 is_stopped "$PAUSED" ||
    fail "vboxmanage $* did not stop at '$point': $(cat "$E2E_TMP/paused.err")"
}
# resume: lets the paused vboxmanage go on and sets PAUSED_RC to its exit status.
resume() {
  kill -CONT "$PAUSED"
  PAUSED_RC=0
  wait "$PAUSED" || PAUSED_RC=$?
}
desc() { virsh_q desc "$d" --config; }
max_kib() { virsh_q dumpxml --inactive "$d" | sed -n "s:.*<memory unit='KiB'>\([0-9]*\)<.*:\1:p"; }

# 1. <memory>: virsh changes the description and the vCPUs while modifyvm is stopped.
paused define modifyvm "$d" --memory 300
virsh_q desc "$d" --config "edited during modifyvm --memory" >/dev/null
virsh_q setvcpus "$d" 2 --config --maximum >/dev/null
resume
assert_eq 0 "$PAUSED_RC" "modifyvm --memory after the edit: $(cat "$E2E_TMP/paused.err")"
assert_eq "edited during modifyvm --memory" "$(desc)" "the description virsh set"
assert_contains "$(virsh_q dumpxml --inactive "$d")" ">2</vcpu>" "the vCPUs virsh set"
assert_eq $((300 * 1024)) "$(max_kib)" "the memory modifyvm set"

# 2. <memoryBacking>: the same while modifyvm turns page fusion off (<nosharepages/>).
paused define modifyvm "$d" --page-fusion off
virsh_q desc "$d" --config "edited during modifyvm --page-fusion" >/dev/null
resume
assert_eq 0 "$PAUSED_RC" "modifyvm --page-fusion after the edit: $(cat "$E2E_TMP/paused.err")"
assert_eq "edited during modifyvm --page-fusion" "$(desc)" "the description virsh set"
assert_contains "$(virsh_q dumpxml --inactive "$d")" "<nosharepages/>" "page fusion off"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_eq "" "$ERR" "store and libvirt agree"

# 3. startvm while modifyvm holds the session lock: it waits, then starts the new settings.
paused modifyvm-define modifyvm "$d" --memory 320
"$VBM" --connect "$LIBVIRT_URI" startvm "$d" >"$E2E_TMP/start.out" 2>&1 &
start=$! # vboxmanage's own PID (not a subshell's), whose open files are looked at
holds_lock() { # startvm has the session lock's file open
  local fd
  for fd in "/proc/$start/fd/"*; do
    [[ $(readlink "$fd" 2>/dev/null) == */vboxkvm.lock ]] && return 0
  done
  return 1
}
queued_or_done() { ! kill -0 "$start" 2>/dev/null || holds_lock; }
wait_until 20 queued_or_done || fail "startvm neither finished nor waited for the session lock"
assert_eq "shut off" "$(virsh_q domstate "$d")" "the VM started while modifyvm held the session lock"
holds_lock || fail "startvm is not waiting for the session lock"
resume
assert_eq 0 "$PAUSED_RC" "modifyvm --memory 320: $(cat "$E2E_TMP/paused.err")"
rc=0
wait "$start" || rc=$?
assert_eq 0 "$rc" "startvm after modifyvm: $(cat "$E2E_TMP/start.out")"
assert_eq "running" "$(virsh_q domstate "$d")"
assert_contains "$(virsh_q dumpxml "$d")" "<memory unit='KiB'>$((320 * 1024))</memory>" \
  "the running VM has the settings modifyvm wrote"
assert_exit 0 vbm controlvm "$d" poweroff

# 4. virsh start (no session lock) while modifyvm is stopped: modifyvm refuses, writes nothing.
paused modifyvm-define modifyvm "$d" --memory 400
virsh_q start "$d" >/dev/null
resume
assert_eq 1 "$PAUSED_RC" "modifyvm of a VM that started meanwhile"
assert_contains "$(cat "$E2E_TMP/paused.err")" "is already locked for a session"
assert_eq $((320 * 1024)) "$(max_kib)" "the configuration modifyvm must not have written"
assert_eq 0 "$(sql 'SELECT count(*) FROM pending_change')" "an intent was left behind"
assert_eq 320 "$(sql "SELECT value FROM vm_setting WHERE key = 'memory'")" "the store's memory"
e2e_log "virsh edits survived modifyvm; startvm waited for it; a VM started under it refused the change"
