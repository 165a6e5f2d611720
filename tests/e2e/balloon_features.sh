#!/usr/bin/env bash
# vboxkvm's balloon features (issue 15 points 3 and 4) on real TCG guests:
#  (a) modifyvm --free-page-reporting / --balloon-deflate-on-oom write <memballoon
#      freePageReporting='on' autodeflate='on'>, showvminfo shows them, off removes them; a guest
#      without a balloon device is refused with its reason and left as it was;
#  (b) free page reporting: a guest that frees 128 MiB gives it back to the host (QEMU's RSS
#      drops) within seconds; the same guest without it keeps it (measured, logged as RESULT);
#  (c) deflate-on-OOM: a guest whose balloon holds half its RAM fills its memory without an
#      OOM kill, and its balloon shrinks.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
qemu_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "/run/libvirt/qemu/$1.pid")/status"; }
rss_below() { (($(qemu_rss_kib "$1") < $2)); }
rss_above() { (($(qemu_rss_kib "$1") > $2)); }
actual_above() { (($(dommemstat_value "$1" actual) > $2)); }
actual_is() { [[ $(dommemstat_value "$1" actual) == "$2" ]]; }
has_line() { guest_load_lines "$1" | grep -qE "$2"; }

# ---- (a) the settings ------------------------------------------------------------------------
fpr=$(define_guest fpr --memory 512 --control --seed 1)
assert_exit 0 vbm modifyvm "$fpr" --free-page-reporting on --balloon-deflate-on-oom on
assert_eq "" "$OUT$ERR"
balloon=$(virsh_q dumpxml --inactive "$fpr" | grep '<memballoon')
assert_contains "$balloon" "freePageReporting='on'"
assert_contains "$balloon" "autodeflate='on'"
assert_exit 0 vbm showvminfo "$fpr"
assert_contains "$OUT" $'Free Page Reporting:         enabled\nBalloon Deflate on OOM:      enabled'
assert_eq "" "$ERR" "no drift"
assert_exit 0 vbm modifyvm "$fpr" --balloon-deflate-on-oom off
assert_not_contains "$(virsh_q dumpxml --inactive "$fpr" | grep '<memballoon')" "autodeflate"
assert_exit 0 vbm showvminfo "$fpr" --machinereadable
assert_contains "$OUT" $'freepagereporting="on"\nballoondeflateonoom="off"'

none=$(define_guest none --memory 128 --no-balloon-device)
before=$(virsh_q dumpxml --inactive "$none")
assert_exit 1 vbm modifyvm "$none" --memory 256 --free-page-reporting on
assert_eq "VBoxManage: error: free page reporting needs a memory balloon device: the VM has <memballoon model='none'> (add a virtio one with virsh edit)" "$ERR"
assert_eq "$before" "$(virsh_q dumpxml --inactive "$none")" "the refused command changed nothing"

# ---- (b) free page reporting: 128 MiB freed in the guest, QEMU's RSS measured -------------------
plain=$(define_guest plain --memory 512 --control --seed 2)
assert_exit 0 vbm startvm "$fpr" "$plain"
wait_guest_ready "$fpr"
wait_guest_ready "$plain"
guest_lines() { grep -a "$2" "$(guest_serial_log "$1")"; }
wait_until 30 guest_lines "$fpr" 'Free page reporting enabled' >/dev/null ||
    fail "the guest's virtio_balloon did not enable free page reporting"
declare -A dropped_ms=()
for g in "$fpr" "$plain"; do
    guest_load "$g" 'a128' >/dev/null
    wait_until 60 has_line "$g" ' op=done step=1 what=alloc ' || fail "$g did not allocate 128 MiB"
    held=$(qemu_rss_kib "$g")
    guest_load "$g" 'f' >/dev/null
    if wait_until 30 rss_below "$g" $((held - 100 * 1024)); then
        dropped_ms[$g]=$WAITED_MS
    else
        dropped_ms[$g]=none
    fi
    e2e_log "$g: RSS $held KiB holding 128 MiB, $(qemu_rss_kib "$g") KiB after the free; dropped by 100 MiB after: ${dropped_ms[$g]} ms"
done
[[ ${dropped_ms[$fpr]} != none ]] || fail "with free page reporting, QEMU's RSS did not drop by 100 MiB within 30 s of the free"
assert_eq none "${dropped_ms[$plain]}" "without free page reporting the host gets nothing back in 30 s"
e2e_log "RESULT fpr_rss_drop_ms=${dropped_ms[$fpr]} without=none_in_30s"
assert_exit 0 vbm controlvm "$plain" poweroff
assert_exit 0 vbm controlvm "$fpr" poweroff

# ---- (c) deflate-on-OOM: the balloon gives way instead of the OOM killer ----------------------
oom=$(define_guest oom --memory 384 --control --seed 3)
assert_exit 0 vbm modifyvm "$oom" --balloon-deflate-on-oom on
assert_exit 0 vbm startvm "$oom"
wait_guest_ready "$oom"
assert_exit 0 vbm controlvm "$oom" guestmemoryballoon 192
wait_until 60 actual_is "$oom" $((192 * 1024)) || fail "the balloon did not take 192 MiB (actual $(dommemstat_value "$oom" actual))"
guest_load "$oom" 'a224,h1' >/dev/null
wait_until 120 has_line "$oom" ' op=done step=1 what=alloc | op=killed ' || fail "memload neither finished nor was killed"
assert_eq 0 "$(guest_load_stat "$oom" oom_kills)" "no OOM kill while the balloon had room"
wait_until 30 actual_above "$oom" $((192 * 1024)) || fail "the balloon did not shrink"
e2e_log "RESULT deflate_actual_kib=$(dommemstat_value "$oom" actual) (was $((192 * 1024)))"
