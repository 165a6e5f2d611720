#!/usr/bin/env bash
# End-to-end self-test of the e2e harness itself (no vboxmanage involved):
# real libvirtd, two real TCG guests, a real virtio balloon.
export E2E_NEEDS_VBM=0
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

e2e_start_libvirtd
e2e_guest_image
e2e_log "guest image: $GUEST_KERNEL, $GUEST_INITRD_BALLOON, $GUEST_INITRD_NOBALLOON"

with=$(define_guest balloon --memory 256)
without=$(define_guest nodriver --memory 256 --no-balloon-driver)
assert_contains "$with" "$E2E_PREFIX" "define_guest prints the prefixed name"

# Both guests boot in parallel.
start_guest "$with"
start_guest "$without"
wait_guest_ready "$with"
boot_with=$GUEST_BOOT_MS
wait_guest_ready "$without"
boot_without=$GUEST_BOOT_MS
assert_contains "$(cat "$(guest_serial_log "$with")")" "VBOXKVM-GUEST-READY balloon"
assert_contains "$(cat "$(guest_serial_log "$without")")" "VBOXKVM-GUEST-READY noballoon"

# Both have a balloon device, so dommemstat shows "actual" for both.
assert_eq 262144 "$(dommemstat_value "$with" actual)" "actual of $with before setmem"
assert_eq 262144 "$(dommemstat_value "$without" actual)" "actual of $without before setmem"

# The guest driver reports statistics (period 2 s) once it is loaded.
has_usable() { [[ -n $(dommemstat_value "$with" usable) ]]; }
wait_until 20 has_usable || fail "dommemstat of $with never showed guest statistics (usable)"

# Balloon with the driver: 256 MiB -> 128 MiB.
virsh_q setmem "$with" 131072 --live
actual_is() { [[ $(dommemstat_value "$1" actual) == "$2" ]]; }
wait_until 20 actual_is "$with" 131072 ||
    fail "actual of $with did not reach 131072 KiB within 20 s (is $(dommemstat_value "$with" actual))"
balloon_ms=$WAITED_MS
e2e_log "balloon of $with moved to 131072 KiB in ${balloon_ms} ms"

# Without the driver nothing inflates the balloon: actual stays at 256 MiB.
virsh_q setmem "$without" 131072 --live
if wait_until 8 actual_is "$without" 131072; then
    fail "actual of $without moved to 131072 KiB although the guest has no balloon driver"
fi
assert_eq 262144 "$(dommemstat_value "$without" actual)" "actual of $without after 8 s"

# The TCP listener sees the same guests.
assert_exit 0 virsh -c qemu+tcp://127.0.0.1/system list --all
assert_contains "$OUT" "$with" "qemu+tcp list"
assert_contains "$OUT" "$without" "qemu+tcp list"

# assert_exit reports failures with the expected status, too.
assert_exit 1 virsh_q domstate "${E2E_PREFIX}does-not-exist"
assert_contains "$ERR" "failed to get domain"

e2e_log "RESULT boot_ms(balloon)=$boot_with boot_ms(noballoon)=$boot_without balloon_ms=$balloon_ms"
