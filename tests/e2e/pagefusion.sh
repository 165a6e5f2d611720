#!/usr/bin/env bash
# Page fusion on real guests and the real host KSM, steered by vboxkvm's controller:
#  - KSM starts stopped with odd tunables; `pagefusion manage on`, then `startvm` of two
#    identical page-fusion guests and one with page fusion off hands them to a controller,
#    which runs KSM, bursts, merges the two guests' identical pages, then backs off to idle;
#  - the page-fusion-off guest never has a page merged, and is not a page-fusion guest;
#  - `pagefusion status` (human and --json) says so, with the decisions and their reasons;
#    metrics RAM/VMM/Shared and Guest/RAM/Usage/Shared show it;
#  - a deflating balloon makes it burst again;
#  - a controller killed with -9 leaves its saved tunables; the next one uses them, and when
#    the last page-fusion guest stops KSM comes back exactly as the test set it, and the
#    controller exits;
#  - `pagefusion manage off` gives KSM back at once.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
ksm=/sys/kernel/mm/ksm
[[ -w $ksm/run ]] || skip "needs a writable $ksm (KSM) to steer page fusion"
[[ $LIBVIRT_URI == qemu:///* ]] || skip "the controller steers this host's KSM: needs a local qemu:/// URI, not $LIBVIRT_URI"
if pgrep -x ksmtuned >/dev/null; then
  skip "ksmtuned runs on this host and would fight the controller under test"
fi
if others=$(pgrep -f '__pagefusiond'); then
  fail "another vboxkvm page-fusion controller (pid $others) steers this host's KSM; stop it first"
fi

knobs() { cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' '; }
status_json() { vbm pagefusion status --json; }
jq_py() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# The PID of the controller holding the lock ("" when none holds it).
controller_pid() {
  local lock=$VBOXKVM_RUN_DIR/pagefusiond.lock
  [[ -e $lock ]] && ! flock -n "$lock" true && cat "$lock"
  return 0
}

# KSM as the test found it comes back at the end, whatever happens.
orig=$(knobs)
orig_smart=$(cat $ksm/smart_scan 2>/dev/null || echo "")
e2e_on_cleanup "pkill -9 -f '__pagefusiond' 2>/dev/null; read -r r p s <<<'$orig'; echo \$p >$ksm/pages_to_scan; echo \$s >$ksm/sleep_millisecs; echo \$r >$ksm/run; [[ -z '$orig_smart' ]] || echo '$orig_smart' >$ksm/smart_scan"

# KSM stopped, nothing merged, and tunables nobody would choose: they must all come back.
echo 2 >$ksm/run
wait_until 30 bash -c "[ \$(cat $ksm/pages_shared) = 0 ]" || fail "KSM did not unmerge"
echo 0 >$ksm/run
echo 123 >$ksm/pages_to_scan
echo 45 >$ksm/sleep_millisecs
[[ -z $orig_smart ]] || echo 0 >$ksm/smart_scan
as_set="0 123 45 "

assert_exit 0 vbm pagefusion manage on
assert_eq "vboxkvm will steer KSM while page-fusion guests run, from the next one started." "$OUT"
assert_contains "$(cat "$VBOXKVM_ETC_DIR/pagefusion.conf")" "manage-ksm = yes"

g1=$(define_guest g1 --memory 256)
g2=$(define_guest g2 --memory 256)
g3=$(define_guest nofusion --memory 256 --no-share-pages)
t0=$(_e2e_now_ms)
assert_exit 0 vbm startvm "$g1" "$g2" "$g3"
assert_eq "" "$ERR" "startvm prints only VirtualBox's lines"
wait_until 5 test -n "$(controller_pid)" || fail "no controller took $VBOXKVM_RUN_DIR/pagefusiond.lock"
pid=$(controller_pid)
kill -0 "$pid" || fail "controller $pid is not running"
[[ $(cat $ksm/run) == 1 ]] || fail "KSM does not run: $(knobs)"
for g in "$g1" "$g2" "$g3"; do wait_guest_ready "$g"; done

# Any user may read whether a controller runs and what it decided; not what KSM had before.
mode_of() { stat -c %a "$1"; }
assert_eq 755 "$(mode_of "$VBOXKVM_RUN_DIR")" "mode of the run directory"
assert_eq 644 "$(mode_of "$VBOXKVM_RUN_DIR/pagefusiond.lock")" "mode of the lock"
wait_until 5 test -e "$VBOXKVM_RUN_DIR/pagefusion.json" || fail "no state file"
assert_eq 644 "$(mode_of "$VBOXKVM_RUN_DIR/pagefusion.json")" "mode of the state file"
assert_eq 600 "$(mode_of "$VBOXKVM_RUN_DIR/ksm-prior")" "mode of the saved tunables"
assert_eq 600 "$(mode_of "$VBOXKVM_RUN_DIR/pagefusiond.log")" "mode of the log"

# Merged within seconds, then idle.
mode_is() { [[ $(status_json | jq_py 'j["controller"].get("mode")') == "$1" ]]; }
wait_until 60 mode_is idle || fail "the controller never went idle: $(vbm pagefusion status)"
converged_ms=$(($(_e2e_now_ms) - t0))
[[ $(knobs) == "1 250 1000 " ]] || fail "idle rate: $(knobs)"
sharing=$(cat $ksm/pages_sharing)
((sharing > 2000)) || fail "only $sharing pages sharing after convergence"
e2e_log "idle ${converged_ms} ms after startvm, $sharing pages sharing ($((sharing * 4 / 1024)) MB saved)"
merging() { cat "/proc/$(cat "/run/libvirt/qemu/$1.pid")/ksm_merging_pages"; }
for g in "$g1" "$g2"; do
  (($(merging "$g") > 1000)) || fail "$g has only $(merging "$g") pages merged"
done
assert_eq 0 "$(merging "$g3")" "the page-fusion-off guest has pages merged"

# status says it in plain words.
assert_exit 0 vbm pagefusion status
assert_contains "$OUT" "State:                       running, steered by vboxkvm (controller pid $pid)"
assert_contains "$OUT" "Controller:                  idle since"
assert_contains "$OUT" "Scan rate:                   250 pages every 1000 ms (250 pages/s)"
assert_contains "$OUT" "Page-fusion guests:          2"
grep -Eq '^Last measured: +(merged [0-9]+ pages|let sharing fall by [0-9]+ pages while the guests wrote to merged pages) for [0-9]+ scanned in [0-9.]+ s \(general profit [-+][0-9]+ MB\)$' <<<"$OUT" ||
  fail "no Last measured line: $OUT"
assert_not_contains "$OUT" "$g3"
assert_contains "$OUT" "page-fusion guest"
assert_contains "$OUT" "merging stopped paying: the last"
grep -Eq "^  $g1 +[0-9]+ pages merged \([0-9]+ MB\)$" <<<"$OUT" || fail "no merged pages for $g1: $OUT"
assert_exit 0 vbm pagefusion status --json
printf '%s' "$OUT" >"$E2E_TMP/status.json"
python3 - "$E2E_TMP/status.json" "$g1" "$g2" <<'EOF' || fail "status --json: $OUT"
import json, sys
j = json.load(open(sys.argv[1]))
c = j["controller"]
assert c["running"] and c["manage_ksm"] and c["mode"] == "idle", c
assert sorted(g["name"] for g in j["guests"]) == sorted(sys.argv[2:4]), j["guests"]
assert all(g["merging_pages"] > 1000 for g in j["guests"]), j["guests"]
assert j["ksm"]["run"] == 1 and j["ksm"]["pages_sharing"] > 2000 and j["ksm"]["saved_bytes"] > 0
assert any("started" in d["reason"] or "running" in d["reason"] for d in c["decisions"])
EOF

# The metrics see it.
assert_exit 0 vbm metrics setup --period 1 --samples 3 host RAM/VMM
assert_exit 0 vbm metrics setup --period 1 --samples 3 '*' Guest/RAM/Usage
stop_metrics() { vbm metrics disable >/dev/null 2>&1; }
e2e_on_cleanup stop_metrics
values() {
  vbm metrics query "$1" "$2" | awk -v m="$2" 'NR > 2 && $2 == m { sub(/^[^ ]+ +[^ ]+ +/, ""); print }'
}
last_kb() { values "$@" | awk -F', ' '{ v = $NF; sub(/ kB$/, "", v); print v }'; }
gt0() { local v; v=$(last_kb "$1" "$2"); [[ -n $v && $v -gt 0 ]]; }
wait_until 10 gt0 host RAM/VMM/Shared || fail "RAM/VMM/Shared: $(vbm metrics query host RAM/VMM/Shared)"
wait_until 10 gt0 "$g1" Guest/RAM/Usage/Shared || fail "Guest/RAM/Usage/Shared of $g1 stayed 0"
v=$(last_kb "$g3" Guest/RAM/Usage/Shared)
assert_eq 0 "$v" "Guest/RAM/Usage/Shared of the page-fusion-off guest"
assert_exit 0 vbm metrics disable

# A balloon that gives memory back makes it burst. QEMU reports balloon changes at most once
# a second, the latest size only: the deflation is measured against the inflated size only if
# libvirt's event for that size went out (to the controller too) before the deflation began.
stdbuf -oL virsh -q -c "$LIBVIRT_URI" event --domain "$g1" --event balloon-change --loop --timeout 300 \
  >"$E2E_TMP/balloon-events" 2>&1 &
events_pid=$!
e2e_on_cleanup "kill $events_pid 2>/dev/null"
assert_exit 0 vbm controlvm "$g1" guestmemoryballoon 128 --wait 60
inflated_event() { grep -Eq "balloon-change.*: $(((256 - 128) * 1024)) ?(KiB)?$" "$E2E_TMP/balloon-events"; }
wait_until 10 inflated_event || fail "no balloon-change event for the inflated balloon: $(cat "$E2E_TMP/balloon-events")"
assert_exit 0 vbm controlvm "$g1" guestmemoryballoon 0 --wait 60
reason_seen() { vbm pagefusion status | grep -q "the balloon of '$g1' gave back"; }
wait_until 10 reason_seen || fail "no burst for the deflated balloon: $(vbm pagefusion status)"
wait_until 60 mode_is idle || fail "no idle after the balloon's burst"

# kill -9: the saved tunables stay behind, and the next controller still gives back the
# test's values, not the killed one's rate.
kill -9 "$pid"
wait_until 5 bash -c "! kill -0 $pid 2>/dev/null" || fail "controller $pid survived kill -9"
[[ -e $VBOXKVM_RUN_DIR/ksm-prior ]] || fail "the killed controller's saved tunables are gone"
assert_exit 0 vbm pagefusion status
assert_contains "$OUT" "as a vboxkvm controller that did not finish left it"
assert_exit 0 vbm pagefusion manage on # page-fusion guests run: a controller starts at once
assert_contains "$OUT" "vboxkvm now steers KSM while page-fusion guests run (controller pid"
pid2=$(controller_pid)
[[ -n $pid2 && $pid2 != "$pid" ]] || fail "no new controller ($pid2)"
wait_until 10 bash -c "grep -q 'pages_to_scan=123' '$VBOXKVM_RUN_DIR/ksm-prior'" || fail "prior: $(cat "$VBOXKVM_RUN_DIR/ksm-prior")"

# The last page-fusion guest stops: KSM comes back as found, the controller exits.
assert_exit 0 vbm controlvm "$g1" poweroff
assert_exit 0 vbm controlvm "$g2" poweroff
wait_until 15 bash -c "! kill -0 $pid2 2>/dev/null" || fail "controller $pid2 still runs after its guests stopped"
assert_eq "$as_set" "$(knobs)" "KSM's tunables after the controller left"
[[ -z $orig_smart ]] || assert_eq 0 "$(cat $ksm/smart_scan)" "smart_scan after the controller left"
[[ ! -e $VBOXKVM_RUN_DIR/ksm-prior ]] || fail "ksm-prior left behind"
assert_contains "$(cat "$VBOXKVM_RUN_DIR/pagefusiond.log")" "no page-fusion guest has run for 5 s: KSM given back as found (run=0 pages_to_scan=123 sleep_millisecs=45"
assert_eq 0 "$(merging "$g3")" "the page-fusion-off guest, at the end"

# kill -9 again, then the last page-fusion guest is powered off by vboxmanage: nobody runs
# `manage off`, and still KSM comes back as found (that vboxmanage finds the killed controller's
# saved tunables and no controller, and starts one, which gives them back).
assert_exit 0 vbm startvm "$g1"
wait_until 5 test -n "$(controller_pid)" || fail "no controller for the restarted $g1"
pid4=$(controller_pid)
wait_until 10 test -e "$VBOXKVM_RUN_DIR/ksm-prior" || fail "the controller for $g1 saved no tunables"
kill -9 "$pid4"
wait_until 5 bash -c "! kill -0 $pid4 2>/dev/null" || fail "controller $pid4 survived kill -9"
assert_exit 0 vbm controlvm "$g1" poweroff
given_back() { [[ $(knobs) == "$as_set" && ! -e $VBOXKVM_RUN_DIR/ksm-prior ]]; }
wait_until 20 given_back || fail "KSM not given back after kill -9 and poweroff: $(knobs)"

# manage off gives KSM back at once, and then startvm leaves it alone.
assert_exit 0 vbm startvm "$g1"
wait_until 5 test -n "$(controller_pid)" || fail "no controller for the restarted $g1"
pid3=$(controller_pid)
wait_until 5 bash -c "[ \$(cat $ksm/run) = 1 ]" || fail "KSM not started for $g1"
assert_exit 0 vbm pagefusion manage off
assert_contains "$OUT" "vboxkvm leaves KSM alone now; KSM is as found: run=0 pages_to_scan=123 sleep_millisecs=45"
assert_eq "$as_set" "$(knobs)" "KSM's tunables after manage off"
wait_until 5 bash -c "! kill -0 $pid3 2>/dev/null" || fail "controller $pid3 still runs after manage off"
assert_exit 0 vbm startvm "$g2"
# Not a wait for anything: this pause is the check (for a second after startvm, no controller
# takes the lock).
sleep 1
assert_eq "" "$(controller_pid)" "a controller started although manage-ksm = no"
assert_eq "$as_set" "$(knobs)"
e2e_log "converged in ${converged_ms} ms; KSM given back as found after stop, kill -9 and manage off"
