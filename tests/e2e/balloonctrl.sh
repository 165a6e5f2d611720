#!/usr/bin/env bash
# The automatic balloon service on real guests, libvirtd and store:
#  1. bad option values give VBoxBalloonCtrl's errors, also when run as VBoxBalloonCtrl;
#  2. setextradata/getextradata round-trip odd keys and values on a real domain;
#  3. an idle guest's balloon inflates (vboxkvm policy); once it reads files, its page cache is
#     squeezed out (free page reporting is on) and the host holds less of it;
#  4. the same guest's workload spikes past what it has left: its balloon deflates, and no
#     process of it is killed (its console says), with the reason in `balloonctrl status`;
#  5. a guest without a balloon driver is marked not responding, and left alone;
#  6. libvirtd restarting: the service reconnects and goes on; kill -9 of the service: a new
#     one takes over the same store (one at a time), from the balloons as they are;
#  7. SIGTERM ends it by the signal, leaving the balloons as they are.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
# Whatever happens, leave a libvirtd running for the tests after this one.
restart_libvirtd() { "$E2E_REPO/scripts/start-libvirtd.sh" >/dev/null 2>&1; }
e2e_on_cleanup restart_libvirtd

# 1. VBoxBalloonCtrl's messages (VBoxWatchdog.cpp main, RTGetOptPrintError).
assert_exit 2 vbm balloonctrl --balloon-interval abc
assert_eq "VBoxManage: error: Unknown option: '--balloon-interval'" "$ERR"
ln -s "$VBM" "$E2E_TMP/VBoxBalloonCtrl"
assert_exit 2 "$E2E_TMP/VBoxBalloonCtrl" --logrotate x
assert_eq "VBoxBalloonCtrl: error: The value given '--logrotate' has an invalid format." "$ERR"
assert_exit 2 "$E2E_TMP/VBoxBalloonCtrl" --balloon-inc=-5
assert_eq "VBoxBalloonCtrl: error: Unknown option: '--balloon-inc=-5'" "$ERR"
assert_exit 2 "$E2E_TMP/VBoxBalloonCtrl" nonsense
assert_eq "VBoxBalloonCtrl: error: Invalid parameter: nonsense" "$ERR"
assert_exit 0 "$E2E_TMP/VBoxBalloonCtrl" --help
assert_contains "$ERR" "--balloon-safety-margin=<MB>"

# The guests: one that loads memory on command (free page reporting and deflate-on-OOM on,
# as vboxkvm recommends), one without a balloon driver.
idle=$(define_guest idle --memory 384 --free-page-reporting --autodeflate --control --stats-period 1 \
  --cache-disk 160)
nodrv=$(define_guest nodrv --memory 256 --no-balloon-driver)
start_guest "$idle"
start_guest "$nodrv"
wait_guest_ready "$idle"
wait_guest_ready "$nodrv"

# 2. Extra data on a real domain: odd keys and values survive the round trip.
key='VBoxKVM/Test/odd key "q" 中文 %s'
value="it's 'quoted' \"and\" %d; DROP TABLE x;"
assert_exit 0 vbm setextradata "$idle" "$key" "$value"
assert_exit 0 vbm getextradata "$idle" "$key"
assert_eq "Value: $value" "$OUT"
assert_exit 0 vbm setextradata "$idle" "$key"
assert_exit 0 vbm getextradata "$idle" "$key"
assert_eq "No value set!" "$OUT"

actual_mb() { echo $(($(dommemstat_value "$1" actual) / 1024)); }
status_json() { vbm balloonctrl status --json; }
guest_field() { # guest_field NAME FIELD: a guest's field in the service's state
  status_json | python3 -c "import json,sys
j=json.load(sys.stdin)
print(next((g.get('$2','') for g in j.get('guests',[]) if g['name']=='$1'), ''))"
}
# The service manages only this test's guests (--balloon-groups): other guests on the host are
# left alone.
group=/vbm-e2e-balloonctrl-$$
assert_exit 0 vbm setextradata "$idle" VBoxKVM/Groups "$group"
assert_exit 0 vbm setextradata "$nodrv" VBoxKVM/Groups "/other,$group"
start_service() {
  "$VBM" --connect "$LIBVIRT_URI" balloonctrl -v --balloon-groups "$group" >>"$E2E_TMP/service.log" 2>&1 &
  SERVICE=$!
  wait_until 10 bash -c "grep -q 'watching' '$E2E_TMP/service.log'" || fail "the service did not start: $(cat "$E2E_TMP/service.log")"
}
stop_service() { kill -TERM "$SERVICE" 2>/dev/null; wait "$SERVICE" 2>/dev/null || true; }
e2e_on_cleanup stop_service
start_service

# 3. The idle guest gives memory back (from 384 MB, well below).
inflated() { (($(actual_mb "$idle") < 384 - 64)); }
wait_until 90 inflated || fail "the idle guest was not inflated: actual $(actual_mb "$idle") MB; $(vbm balloonctrl status)"
e2e_log "idle guest inflated to $(actual_mb "$idle") MB"

# 5. The guest without a driver: not responding, never pushed.
not_responding() { [[ $(guest_field "$nodrv" state) == "not responding" ]]; }
wait_until 60 not_responding || fail "the guest without a driver is '$(guest_field "$nodrv" state)'"
assert_contains "$(guest_field "$nodrv" why)" "virtio_balloon"
assert_eq 256 "$(actual_mb "$nodrv")" "the driverless guest's memory"

# 3b. The guest reads 128 MB of its disk: the cache fills what it has usable, all of it held by
# the host (free page reporting returns free pages, not cache). Without a squeeze the balloon
# stops at 1.25 guards (80 MB) usable, nearly all of it that cache (~75 MB). The service
# squeezes it out (at most once a minute per guest, so it may take a minute) and gives the
# memory back as free pages: the cache falls to what a squeeze leaves (32 MB).
cache_mb() { echo $(($(dommemstat_value "$idle" disk_caches) / 1024)); }
log_count() { grep -c "\[$(guest_name "$idle")\] .*$1" "$E2E_TMP/service.log" || true; }
released_before=$(log_count "page cache was squeezed out")
guest_load "$idle" "c128@64"
cached() { guest_load_lines "$idle" 'done' | grep -q ' read='; }
wait_until 60 cached || fail "memload did not read its disk: $(guest_load_lines "$idle" | tail -n 3)"
squeezed() { (($(log_count "page cache was squeezed out") > released_before)); }
small_cache() { squeezed && (($(cache_mb) <= 40)) && [[ $(guest_field "$idle" state) == managed ]]; }
wait_until 100 small_cache ||
  fail "the page cache was not squeezed out: $(cache_mb) MB cached; $(vbm balloonctrl status)"
assert_eq 0 "$(guest_load_stat "$idle" oom_kills)" "OOM kills on the guest's console after the squeeze"
e2e_log "page cache squeezed out: $(cache_mb) MB cached, balloon at $(actual_mb "$idle") MB, QEMU RSS $(($(dommemstat_value "$idle" rss) / 1024)) MB"

# 4. A spike larger than what the guest has left: the balloon deflates before the guest OOMs.
before=$(actual_mb "$idle")
need=$((before - 20)) # more than its usable memory: without the service it would run out
guest_load "$idle" "a${need}@64,h15,f"
deflated() { (($(actual_mb "$idle") >= before + 64)); }
wait_until 60 deflated || fail "the balloon did not deflate for the spike: $(actual_mb "$idle") MB; $(vbm balloonctrl status)"
done_holding() { guest_load_lines "$idle" | grep -q ' op=hold '; }
wait_until 120 done_holding || fail "memload never reached its hold: $(guest_load_lines "$idle" | tail -n 3)"
assert_eq 0 "$(guest_load_stat "$idle" oom_kills)" "OOM kills on the guest's console"
assert_eq 0 "$(guest_load_stat "$idle" killed)" "memload killed"
assert_exit 0 vbm balloonctrl status
assert_contains "$OUT" "$idle"
grep -qE "deflated by [0-9]+ MB to [0-9]+ MB: (usable|its own deflate-on-OOM)" <<<"$OUT" ||
  fail "no deflate decision with its reason in status: $OUT"
e2e_log "spike of ${need} MB: deflated to $(actual_mb "$idle") MB, no OOM kill, $(guest_load_stat "$idle" stalls) stalls"

# 4b. Settings change at run time: BalloonEnabled 0 gives the guest its memory back, and status
# says why; removing the key hands the guest back to the policy.
assert_exit 0 vbm setextradata "$idle" VBoxInternal2/Watchdog/BalloonCtrl/BalloonEnabled 0
disabled() { [[ $(guest_field "$idle" state) == disabled ]]; }
wait_until 30 disabled || fail "the guest is '$(guest_field "$idle" state)' after BalloonEnabled 0"
assert_contains "$(guest_field "$idle" why)" "BalloonEnabled"
full() { (($(actual_mb "$idle") >= 383)); }
wait_until 30 full || fail "a disabled guest kept its balloon: $(actual_mb "$idle") MB"
assert_exit 0 vbm setextradata "$idle" VBoxInternal2/Watchdog/BalloonCtrl/BalloonEnabled
wait_until 90 inflated || fail "the guest was not inflated again after BalloonEnabled was removed"

# 4c. Metrics: the collector's Prometheus textfile carries what the service reclaims and how
# fast it reacted (from the service's state file), now that the guest is inflated again.
prom=$E2E_TMP/prom
mkdir -p "$prom"
stop_metrics() { vbm metrics disable >/dev/null 2>&1; }
e2e_on_cleanup stop_metrics
assert_exit 0 env VBOXKVM_METRICS_TEXTFILE_DIR="$prom" "$VBM" --connect "$LIBVIRT_URI" \
  metrics setup --period 1 --samples 5 host RAM/VMM
prom_value() { sed -n "s/^vboxkvm_balloonctrl_$1{[^}]*} //p" "$prom/vboxkvm.prom" 2>/dev/null | head -n 1; }
prom_ready() { [[ -n $(prom_value up) ]]; }
wait_until 10 prom_ready || fail "no balloonctrl figures in $prom/vboxkvm.prom: $(cat "$prom/vboxkvm.prom" 2>&1)"
assert_eq 1 "$(prom_value up)" "vboxkvm_balloonctrl_up"
reclaiming() { (($(prom_value reclaimed_bytes) > 0)); }
wait_until 10 reclaiming || fail "reclaimed_bytes is '$(prom_value reclaimed_bytes)' while the guest is inflated"
grep -qE '^vboxkvm_balloonctrl_reaction_seconds\{.*quantile="0.99"\} [0-9.]+$' "$prom/vboxkvm.prom" ||
  fail "no reaction quantiles: $(grep reaction "$prom/vboxkvm.prom")"
stop_metrics

# 6a. libvirtd restarts: the service reconnects and goes on.
"$E2E_REPO/scripts/stop-libvirtd.sh" --kill >/dev/null
wait_until 20 bash -c "grep -q 'lost libvirtd' '$E2E_TMP/service.log'" || fail "the service did not notice libvirtd going away"
"$E2E_REPO/scripts/start-libvirtd.sh" >/dev/null
reconnected() { [[ $(grep -c 'watching' "$E2E_TMP/service.log") -ge 2 ]]; }
wait_until 30 reconnected || fail "the service did not reconnect: $(tail -n 5 "$E2E_TMP/service.log")"
kill -0 "$SERVICE" || fail "the service died with libvirtd"

# 6b. kill -9: a second service refuses while the first runs; after the kill a new one takes over.
assert_exit 1 vbm balloonctrl --balloon-groups "$group"
assert_contains "$ERR" "another balloonctrl (pid $SERVICE) already manages the guests"
kill -9 "$SERVICE"
wait "$SERVICE" 2>/dev/null || true
start_service
running_pid() { status_json | python3 -c "import json,sys; j=json.load(sys.stdin); print(j['pid'] if j.get('running') else '')"; }
taken_over() { [[ $(running_pid) == "$SERVICE" ]]; }
wait_until 10 taken_over || fail "status does not show the new service running: $(status_json)"

# 7. SIGTERM ends it by the signal; the balloons stay as they are.
held=$(actual_mb "$idle")
kill -TERM "$SERVICE"
rc=0
wait "$SERVICE" || rc=$?
assert_eq 143 "$rc" "the service's status after SIGTERM"
assert_contains "$(tail -n 3 "$E2E_TMP/service.log")" "balloons stay as they are"
assert_eq "$held" "$(actual_mb "$idle")" "the balloon after the service stopped"
e2e_log "reconnected after libvirtd restarted, taken over after kill -9, stopped by SIGTERM"
