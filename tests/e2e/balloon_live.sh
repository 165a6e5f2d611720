#!/usr/bin/env bash
# The live balloon on real booted guests: startvm applies the balloon configured with modifyvm,
# controlvm guestmemoryballoon moves it (the guest really gives memory back and takes it again),
# --wait fails for a guest without a balloon driver, a VM without a balloon device is refused,
# and the power actions of controlvm (pause/resume, poweroff, acpipowerbutton) work.
# Logs the balloon response time (controlvm call -> `actual` at the target).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }
actual_of() { dommemstat_value "$1" actual; }
actual_is() { [[ $(actual_of "$1") == "$2" ]]; }
domstate_is() { [[ $(virsh_q domstate "$1" 2>/dev/null) == "$2" ]]; }
machinereadable() { vbm showvminfo "$1" --machinereadable; }

# memstats NAME: the guest's statistics into the array MS (MS[unused], MS[last_update], ...).
declare -A MS
memstats() {
  local k v
  MS=()
  while read -r k v; do
    [[ -n $k ]] && MS[$k]=$v
  done < <(virsh_q dommemstat "$1")
}
# fresh_memstats NAME: wait for a statistics report the guest made after this call (they come
# every 2 s), then memstats NAME. Reports made before the balloon moved would show old values.
stats_newer_than() { [[ $(dommemstat_value "$1" last_update) -gt $2 ]]; }
fresh_memstats() {
  local l0
  l0=$(dommemstat_value "$1" last_update)
  wait_until 15 stats_newer_than "$1" "$l0" || fail "no new balloon statistics from $1 within 15 s"
  memstats "$1"
}

# balloon_response NAME MB TARGET_KIB: plain controlvm (no --wait), then poll dommemstat until
# `actual` is TARGET_KIB. Sets RESP_MS (call -> arrived) and CALL_MS (the controlvm call alone).
balloon_response() {
  local t0 t1
  t0=$(now_ms)
  assert_exit 0 vbm controlvm "$1" guestmemoryballoon "$2"
  t1=$(now_ms)
  CALL_MS=$((t1 - t0))
  until actual_is "$1" "$3"; do
    (($(now_ms) - t0 < 30000)) || fail "actual of $1 did not reach $3 KiB within 30 s (it is $(actual_of "$1"))"
  done
  RESP_MS=$(($(now_ms) - t0))
}

e2e_guest_image
d=$(define_guest live --memory 256)
nodrv=$(define_guest nodrv --memory 256 --no-balloon-driver)
nodev=$(define_guest nodev --memory 256 --no-balloon-device)

# ---- (a) startvm applies the configured balloon ----------------------------------------
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon 64
t0=$(now_ms)
assert_exit 0 vbm startvm "$d" --type headless
e2e_log "startvm $d returned after $(($(now_ms) - t0)) ms"
assert_eq "Waiting for VM \"$d\" to power on...
VM \"$d\" has been successfully started." "$OUT" "startvm output"
assert_eq "" "$ERR" "startvm stderr"
assert_exit 0 vbm startvm "$nodrv" "$nodev"
assert_contains "$OUT" "VM \"$nodrv\" has been successfully started."
assert_contains "$OUT" "VM \"$nodev\" has been successfully started."
wait_guest_ready "$d"
wait_guest_ready "$nodrv"
wait_guest_ready "$nodev"
wait_until 30 actual_is "$d" $(((256 - 64) * 1024)) ||
  fail "the configured balloon (64 MB) is not in effect after startvm: actual is $(actual_of "$d")"
e2e_log "default balloon in effect ${WAITED_MS} ms after the guest was ready"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'VMState="running"'
assert_contains "$OUT" 'GuestMemoryBalloon=64'

# ---- (b) inflate: the guest gives memory back ---------------------------------------------
fresh_memstats "$d"
unused0=${MS[unused]} avail0=${MS[available]}
t0=$(now_ms)
assert_exit 0 vbm controlvm "$d" guestmemoryballoon 128 --wait 30
wait_inflate_ms=$(($(now_ms) - t0))
assert_eq $((128 * 1024)) "$(actual_of "$d")" "actual after guestmemoryballoon 128 --wait"
fresh_memstats "$d"
unused1=${MS[unused]} avail1=${MS[available]}
e2e_log "inflate 64 -> 128 MB: unused ${unused0} -> ${unused1} KiB, available ${avail0} -> ${avail1} KiB"
((unused1 < unused0 - 32768)) || fail "guest's unused memory did not go down by 32+ MiB: $unused0 -> $unused1 KiB"
((avail1 < avail0 - 32768)) || fail "guest's available memory did not go down by 32+ MiB: $avail0 -> $avail1 KiB"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'GuestMemoryBalloon=128'
assert_contains "$OUT" 'VMState="running"'

# ---- (c) deflate: the guest gets it back -------------------------------------------------
t0=$(now_ms)
assert_exit 0 vbm controlvm "$d" guestmemoryballoon 0 --wait
wait_deflate_ms=$(($(now_ms) - t0))
assert_eq 262144 "$(actual_of "$d")" "actual after guestmemoryballoon 0 --wait"
fresh_memstats "$d"
unused2=${MS[unused]}
e2e_log "deflate 128 -> 0 MB: unused ${unused1} -> ${unused2} KiB"
((unused2 > unused1 + 32768)) || fail "guest's unused memory did not go up by 32+ MiB: $unused1 -> $unused2 KiB"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'GuestMemoryBalloon=0'
e2e_log "controlvm guestmemoryballoon --wait took ${wait_inflate_ms} ms (inflate 64 MB) and ${wait_deflate_ms} ms (deflate 128 MB)"

# Response time: plain controlvm, then poll `actual`, alternating inflate and deflate.
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
resp=() inflate=() deflate=() calls=()
for mb in 128 0 128 0 128 0; do
  balloon_response "$d" "$mb" $(((256 - mb) * 1024))
  resp+=("$RESP_MS") calls+=("$CALL_MS")
  if ((mb)); then inflate+=("$RESP_MS"); else deflate+=("$RESP_MS"); fi
done
median=$(median "${resp[@]}")
e2e_log "balloon response (controlvm call -> actual at target, 128 MB), ms: inflate ${inflate[*]}, deflate ${deflate[*]} (median $median); the controlvm call alone: ${calls[*]}"
((median < 10000)) || fail "median balloon response ${median} ms is over 10 s"

# ---- (h) a paused VM is online: the request is taken and applied after resume ----------------
assert_exit 0 vbm controlvm "$d" pause
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'VMState="paused"'
assert_exit 0 vbm controlvm "$d" guestmemoryballoon 32
assert_eq "" "$ERR" "guestmemoryballoon on a paused VM: stderr"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'GuestMemoryBalloon=32'
assert_exit 0 vbm controlvm "$d" resume
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'VMState="running"'
wait_until 30 actual_is "$d" $(((256 - 32) * 1024)) ||
  fail "the balloon requested while paused was not applied after resume: actual is $(actual_of "$d")"

# ---- (d) no balloon driver in the guest ------------------------------------------------------
t0=$(now_ms)
assert_exit 1 vbm controlvm "$nodrv" guestmemoryballoon 100 --wait 5
took=$(($(now_ms) - t0))
assert_contains "$ERR" "did not move its balloon"
assert_contains "$ERR" "'$nodrv'"
e2e_log "--wait 5 on a guest without a balloon driver gave up after ${took} ms"
((took >= 4900 && took <= 9000)) || fail "--wait 5 took ${took} ms, not about 5 s"
assert_eq 262144 "$(actual_of "$nodrv")" "actual of the guest without a balloon driver"
assert_exit 0 vbm controlvm "$nodrv" guestmemoryballoon 100
assert_eq "" "$OUT"
assert_contains "$ERR" "never reported balloon statistics"
assert_contains "$ERR" "'$nodrv'"

# ---- (e) no balloon device ----------------------------------------------------------------------
live_before=$(virsh_q dumpxml "$nodev")
inactive_before=$(virsh_q dumpxml --inactive "$nodev")
assert_exit 1 vbm controlvm "$nodev" guestmemoryballoon 10
assert_contains "$ERR" "no memory balloon device"
assert_contains "$ERR" "'$nodev'"
assert_eq "$live_before" "$(virsh_q dumpxml "$nodev")" "refused guestmemoryballoon left the live domain unchanged"
assert_eq "$inactive_before" "$(virsh_q dumpxml --inactive "$nodev")" "refused guestmemoryballoon left the config unchanged"
assert_exit 0 machinereadable "$nodev"
assert_contains "$OUT" 'GuestMemoryBalloon=0'

# ---- (f) modifyvm is refused while running; after controlvm poweroff it works -------------------
assert_exit 1 vbm modifyvm "$d" --guest-memory-balloon 32
assert_eq "VBoxManage: error: The machine '$d' is already locked for a session (or being unlocked)" \
  "$(head -1 <<<"${ERR//vboxmanage:/VBoxManage:}")"
assert_exit 0 vbm controlvm "$d" poweroff
assert_eq "" "$OUT" "controlvm poweroff: stdout"
assert_eq "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%" "$ERR" \
  "controlvm poweroff: VirtualBox's progress line on stderr"
domstate_is "$d" "shut off" || fail "$d is '$(virsh_q domstate "$d")' after controlvm poweroff"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'VMState="poweroff"'
assert_contains "$OUT" 'GuestMemoryBalloon=64' # the live request is gone; the configured one shows
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon 32
assert_contains "$(virsh_q dumpxml --inactive "$d")" "<currentMemory unit='KiB'>$(((256 - 32) * 1024))</currentMemory>"
assert_exit 0 machinereadable "$d"
assert_contains "$OUT" 'GuestMemoryBalloon=32'

# ---- (g) controlvm on a stopped VM, by name and by UUID ------------------------------------------
assert_exit 1 vbm controlvm "$d" guestmemoryballoon 10
assert_eq "VBoxManage: error: Machine '$d' is not currently running." "$ERR"
uuid=$(virsh_q domuuid "$d")
assert_exit 1 vbm controlvm "$uuid" guestmemoryballoon 10
assert_eq "VBoxManage: error: Machine '$uuid' is not currently running." "$ERR"
assert_exit 1 vbm controlvm "$d" poweroff
assert_contains "$ERR" "is not currently running."

# ---- (i) acpipowerbutton: the guests shut themselves down ------------------------------------------
t0=$(now_ms)
assert_exit 0 vbm controlvm "$nodrv" acpipowerbutton
assert_exit 0 vbm controlvm "$nodev" acpipowerbutton
wait_until 15 domstate_is "$nodrv" "shut off" || fail "$nodrv did not power off within 15 s of the ACPI button"
wait_until 15 domstate_is "$nodev" "shut off" || fail "$nodev did not power off within 15 s of the ACPI button"
e2e_log "acpipowerbutton: both guests off after $(($(now_ms) - t0)) ms"
assert_exit 0 machinereadable "$nodrv"
assert_contains "$OUT" 'VMState="poweroff"'
assert_contains "$OUT" 'GuestMemoryBalloon=0' # the live request of the run that ended is gone
