#!/usr/bin/env bash
# The tiny guest's workload (guest/memload.c) on real TCG guests: a schedule from the kernel
# command line is followed at its rate and logged (demand once a second, demand 0 after a
# free), commands on the control socket replace it at once, an OOM kill is seen and reported
# by /init (op=killed) and memload goes on with its next step, and with free page reporting
# the host gets a freed allocation back (QEMU's RSS drops). Logs the RSS drop time.
export E2E_NEEDS_VBM=0
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
e2e_guest_image

# field LINE KEY: the value of KEY=VALUE in a VBM-LOAD line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# has_line NAME REGEX: a VBM-LOAD line of NAME matches REGEX.
has_line() { guest_load_lines "$1" | grep -qE "$2"; }
# last_line NAME REGEX: the last VBM-LOAD line of NAME that matches REGEX.
last_line() { guest_load_lines "$1" | grep -E "$2" | tail -n 1; }
qemu_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "/run/libvirt/qemu/$1.pid")/status"; }
rss_below() { (($(qemu_rss_kib "$1") < $2)); }

load=$(define_guest load --memory 384 --free-page-reporting --control --seed 7 --load a32@16,h2,f)
oom=$(define_guest oom --memory 160 --control --seed 8)
start_guest "$load"
start_guest "$oom"
wait_guest_ready "$load"
wait_guest_ready "$oom"
# (d) runs meanwhile: far more than a 160 MiB guest has.
guest_load "$oom" 'a400,h1' >/dev/null

# ---- (a) the schedule from the kernel command line ---------------------------------------
wait_until 60 has_line "$load" ' op=end ' || fail "memload of $load did not finish a32@16,h2,f"
start=$(last_line "$load" ' op=start ')
assert_eq 7 "$(field "$start" seed)" "seed from vbm.seed"
assert_eq /dev/ttyS1 "$(field "$start" ctl)" "control channel"
assert_eq a32@16,h2,f "$(field "$start" steps)" "schedule from vbm.load"
done1=$(last_line "$load" ' op=done step=1 what=alloc ')
ms=$(field "$done1" ms)
assert_eq 2000 "$(field "$done1" plan)" "plan of 32 MiB at 16 MiB/s"
assert_eq 32 "$(field "$done1" mib)" "MiB touched"
# Paced: never before the plan; not far behind it (a TCG guest touches >= 50 MiB/s).
((ms >= 2000 && ms <= 4000)) || fail "32 MiB at 16 MiB/s took $ms ms, not about 2000: $done1"
# Demand grows during the allocation, one line a second (about 16 MiB after 1 s).
during=$(guest_load_lines "$load" demand | awk -F'demand=' '$NF > 0 && $NF < 32 { n++ } END { print n + 0 }')
((during >= 1)) || fail "no demand line between 0 and 32 MiB while allocating at 16 MiB/s"
hold=$(guest_load_lines "$load" demand | grep -c ' demand=32$' || true)
((hold >= 1)) || fail "no demand=32 line while holding"
assert_eq "0" "$(field "$(last_line "$load" ' op=free step=3 ')" demand)" "demand after the free"
assert_eq "32" "$(field "$(last_line "$load" ' op=free step=3 ')" mib)" "MiB freed"
e2e_log "a32@16 took $ms ms (plan 2000); $during demand line(s) while allocating"

# ---- (b) the control channel ---------------------------------------------------------------
out=$(guest_load "$load" '?')
assert_contains "$out" "OK demand=0" "state query"
assert_exit 1 tiny_guest_send "$(guest_control_socket "$load")" 'a12x'
assert_contains "$OUT" "ERR trailing-characters:a12x" "a bad command is refused"
out=$(guest_load "$load" 'a128,h60')
assert_contains "$out" "OK demand=0 steps=a128,h60"
wait_until 30 has_line "$load" ' op=hold step=2 ms=60000 ' || fail "a128,h60 did not get to its hold"
assert_contains "$(guest_load "$load" '?')" "OK demand=128" "demand while holding"

# ---- (c) free page reporting: the host gets the freed 128 MiB back -----------------------------
rss1=$(qemu_rss_kib "$load")
out=$(guest_load "$load" 'f')
assert_contains "$out" "OK demand=128 steps=f" "a command replaces the schedule at once"
wait_until 10 has_line "$load" ' op=free step=1 mib=128 demand=0$' || fail "f did not free the 128 MiB"
has_line "$load" ' op=done step=2 what=hold .* aborted=1 ' || fail "the hold was not cut short by the command"
wait_until 30 rss_below "$load" $((rss1 - 64 * 1024)) ||
    fail "QEMU's RSS did not drop by 64 MiB within 30 s of the free (was $rss1 KiB, is $(qemu_rss_kib "$load") KiB)"
fpr_ms=$WAITED_MS
e2e_log "free page reporting: RSS dropped by >= 64 MiB ${fpr_ms} ms after the free (now $(qemu_rss_kib "$load") KiB, was $rss1)"

# ---- (d) an OOM kill is seen, reported, and memload goes on -----------------------------------
wait_until 60 has_line "$oom" ' op=killed signal=9 ' || fail "no op=killed after allocating 400 MiB in a 160 MiB guest"
grep -aq 'Out of memory: Killed process [0-9]* (memload)' "$(guest_serial_log "$oom")" ||
    fail "the kernel's OOM kill is not on the console"
wait_until 30 has_line "$oom" ' op=done step=2 what=hold ' || fail "memload did not go on with the step after the kill"
assert_eq 2 "$(field "$(last_line "$oom" ' op=start ')" resume)" "resumed at step 2"
assert_eq 8 "$(field "$(last_line "$oom" ' op=start ')" seed)" "the seed survives the restart"
stats=$(guest_load_stats "$oom")
assert_contains "$stats" "oom_kills=1" "guest_load_stats counts the kernel's kill"
assert_contains "$stats" "killed=1" "guest_load_stats counts /init's line"
assert_contains "$(guest_load "$oom" '?')" "OK demand=0" "the restarted memload listens"
e2e_log "RESULT alloc_ms=$ms fpr_rss_drop_ms=$fpr_ms"
