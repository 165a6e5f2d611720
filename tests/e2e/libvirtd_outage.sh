#!/usr/bin/env bash
# libvirtd going away in the middle of a run: every command fails with one clear error line
# and exit 1, and leaves the store as it was; a stream of modifyvm writers keeps going while
# libvirtd is killed; once libvirtd is back, the next command works and, for every domain,
# the store and libvirt agree (or are settled by the next writer).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
store_dump() { sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "SELECT uuid, key, value FROM vm_setting ORDER BY 1, 2; SELECT uuid FROM pending_change"; }
# Whatever happens, leave a libvirtd running for the tests after this one.
restart_libvirtd() { "$E2E_REPO/scripts/start-libvirtd.sh" >/dev/null 2>&1; }
e2e_on_cleanup restart_libvirtd
answers() { virsh -q -c "$LIBVIRT_URI" uri >/dev/null 2>&1; }
gone() { ! answers; }

names=()
for i in 0 1 2 3; do
  names+=("$(define_guest "o$i" --memory 256)")
  assert_exit 0 vbm modifyvm "${names[i]}" --memory $((300 + i))
done
running=$(define_guest run --memory 256)
start_guest "$running"
wait_guest_ready "$running"

# 1. libvirtd stopped: clear errors, exit 1, store untouched.
before=$(store_dump)
"$E2E_REPO/scripts/stop-libvirtd.sh" --kill >/dev/null
wait_until 10 gone || fail "libvirtd still answers"
outage=0
for cmd in "modifyvm ${names[0]} --memory 999" "showvminfo ${names[1]}" "list vms" \
  "controlvm $running guestmemoryballoon 16" "startvm ${names[2]}" "metrics query"; do
  # shellcheck disable=SC2086 # our own words, names without spaces
  assert_exit 1 vbm $cmd
  [[ $(wc -l <<<"$ERR") == 1 && $ERR == *"error: failed to connect to the hypervisor"* ]] ||
    fail "'$cmd' during the outage: want one 'failed to connect' line, got: $ERR"
  outage=$((outage + 1))
done
assert_eq "$before" "$(store_dump)" "the store after failed commands"

# 2. Back: the next command works, nothing was lost.
"$E2E_REPO/scripts/start-libvirtd.sh" >/dev/null
t0=$(_e2e_now_ms)
assert_exit 0 vbm showvminfo "${names[0]}" --machinereadable
recovered_ms=$(($(_e2e_now_ms) - t0))
assert_contains "$OUT" "memory=300"
assert_eq "" "$ERR" "no drift after the outage"
assert_exit 0 vbm list runningvms
assert_contains "$OUT" "$running"

# 3. Killed while writers run: 4 workers write distinct values in a loop; libvirtd is killed
# while they do, and comes back. At least one write must be interrupted: in flight when
# libvirtd died (started before stop-libvirtd.sh --kill returned, ended after it was called)
# and failed for the lost connection, not for failing to connect (a write that starts once
# libvirtd is dead cannot connect). A kill that falls between writes interrupts none, so the kill is
# repeated (at most 5 times) until one does. Every failed write exits 1 with one line;
# afterwards every domain's store and libvirt agree, or agree after one more write.
# $E2E_TMP/results: "ok", or "fail START_MS END_MS refused|lost" for a failed write.
writer() {
  local name=$1 i=$2 w=0 rc start end
  while [[ ! -e $E2E_TMP/stop ]]; do
    w=$((w + 1))
    rc=0
    start=$(_e2e_now_ms)
    "$VBM" --connect "$LIBVIRT_URI" modifyvm "$name" --memory $((400 + i * 100 + w % 50)) 2>"$E2E_TMP/err.$i.$w" || rc=$?
    end=$(_e2e_now_ms)
    if ((rc == 0)); then
      echo ok >>"$E2E_TMP/results"
    else
      [[ $rc == 1 && $(wc -l <"$E2E_TMP/err.$i.$w") == 1 ]] || echo "rc=$rc, error: $(cat "$E2E_TMP/err.$i.$w")" >>"$E2E_TMP/bad"
      if grep -q "error: failed to connect to the hypervisor" "$E2E_TMP/err.$i.$w"; then
        echo "fail $start $end refused" >>"$E2E_TMP/results"
      else
        echo "fail $start $end lost" >>"$E2E_TMP/results"
      fi
    fi
  done
}
results() { cat "$E2E_TMP/results" 2>/dev/null || true; }
count() { results | awk -v k="$1" '$1 == k || $4 == k' | wc -l; } # count ok|refused|lost
more_than() { (($(count "$1") > $2)); }
# interrupted_by FROM_MS TO_MS: failed writes, for the lost connection, in flight at some time
# between FROM_MS and TO_MS (when the kill happened).
interrupted_by() {
  results | awk -v from="$1" -v to="$2" '$1 == "fail" && $2 + 0 < to + 0 && $3 + 0 >= from + 0 && $4 == "lost"' | wc -l
}
stop_writers() {
  touch "$E2E_TMP/stop"
  wait
}
e2e_on_cleanup stop_writers # also when the test fails while they run
for i in 0 1 2 3; do writer "${names[i]}" "$i" & done
kills=0 interrupted=0
while :; do
  # Writes go through (at first, and again once libvirtd is back).
  wait_until 30 more_than ok $(($(count ok) + 8)) || fail "writes do not go through: $(count ok) ok so far"
  if ((kills)); then
    interrupted=$(interrupted_by "$kill_from" "$kill_to")
    e2e_log "kill $kills of libvirtd interrupted $interrupted write(s) in flight"
    ((interrupted == 0)) || break
  fi
  ((kills < 5)) || fail "none of $kills kills of libvirtd interrupted a write in flight ($(count ok) ok, $(count refused) refused, $(count lost) lost at other times)"
  kill_from=$(_e2e_now_ms)
  "$E2E_REPO/scripts/stop-libvirtd.sh" --kill >/dev/null
  kill_to=$(_e2e_now_ms)
  kills=$((kills + 1))
  wait_until 10 gone || fail "libvirtd still answers after kill $kills"
  wait_until 10 more_than refused "$(count refused)" || fail "no write failed to connect while libvirtd was down"
  "$E2E_REPO/scripts/start-libvirtd.sh" >/dev/null
done
stop_writers
assert_eq "" "$(cat "$E2E_TMP/bad" 2>/dev/null || true)" "errors during the kill"
ok_n=$(count ok) fail_n=$(($(count refused) + $(count lost)))
disagree=0
for name in "${names[@]}"; do
  assert_exit 0 vbm showvminfo "$name" --machinereadable
  if [[ -n $ERR ]]; then
    disagree=$((disagree + 1)) # libvirt holds a change the store missed: the next writer settles it
    assert_exit 0 vbm modifyvm "$name" --page-fusion off
    assert_exit 0 vbm showvminfo "$name" --machinereadable
    assert_eq "" "$ERR" "$name: store and libvirt still disagree after the next write"
  fi
  mem=$(virsh_q dumpxml --inactive "$name" | sed -n "s|.*<memory unit='KiB'>\([0-9]*\)</memory>.*|\1|p")
  assert_contains "$OUT" "memory=$((mem / 1024))"
done
assert_eq 0 "$(sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "SELECT count(*) FROM pending_change")" "intents left"
[[ $(sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "PRAGMA integrity_check") == ok ]] || fail "store integrity"
e2e_log "outage: $outage commands failed cleanly (exit 1, one line), store unchanged; back in ${recovered_ms} ms; $kills kill(s) during writes: $ok_n ok, $fail_n failed cleanly ($interrupted interrupted in flight), $disagree settled by the next write"
