#!/usr/bin/env bash
# Concurrent writers: VBM_CONC_DOMAINS (default 40) real domains, VBM_CONC_WRITES writes each
# (default 12: 480 invocations; 50 x 20 took 141 s of CI's 40 minutes), 8 at a time. Each
# domain's writes come in order from one worker, so its last write is known: the store and
# libvirt must both end there, with no "database is locked" and no invocation that said
# success but did not apply. Meanwhile the metrics collector writes samples into the same
# store every second, and `metrics query` reads them in a loop: neither may fail nor make a
# writer fail.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
domains=${VBM_CONC_DOMAINS:-40}
writes=${VBM_CONC_WRITES:-12}
names=()
for ((i = 0; i < domains; i++)); do
  names+=("$(define_guest "c$i" --memory 256)")
done
worker() { # NAME INDEX: writes 1..$writes distinct values in order; logs failures
  local name=$1 i=$2 w
  for ((w = 1; w <= writes; w++)); do
    if "$VBM" --connect "$LIBVIRT_URI" modifyvm "$name" --memory $((256 + i * 8 + w)) \
      --guest-memory-balloon "$w" 2>>"$E2E_TMP/errors"; then
      # Said success: it must be what libvirt holds now (nobody else writes this domain).
      virsh -q -c "$LIBVIRT_URI" dumpxml --inactive "$name" |
        grep -q "<memory unit='KiB'>$(((256 + i * 8 + w) * 1024))</memory>" ||
        echo "$name $w reported success but did not apply" >>"$E2E_TMP/failed"
    else
      echo "$name $w failed" >>"$E2E_TMP/failed"
    fi
  done
}
export -f worker
export writes VBM E2E_TMP LIBVIRT_URI
stop_metrics() { "$VBM" --connect "$LIBVIRT_URI" metrics disable >/dev/null 2>&1; }
e2e_on_cleanup stop_metrics
assert_exit 0 "$VBM" --connect "$LIBVIRT_URI" metrics setup --period 1 --samples 1000 host RAM/Usage,RAM/VMM
reader() { # metrics query in a loop until the writers are done
  local n=0
  while [[ ! -e $E2E_TMP/done ]]; do
    "$VBM" --connect "$LIBVIRT_URI" metrics query host RAM/VMM/Used >/dev/null 2>>"$E2E_TMP/errors" ||
      echo "metrics query failed" >>"$E2E_TMP/failed"
    n=$((n + 1))
    sleep 0.05 # a reader, not a second load generator
  done
  echo "$n" >"$E2E_TMP/queries"
}
reader &
reader_pid=$!
start=$(date +%s%N)
# shellcheck disable=SC2016 # "$0" "$1" are for the child bash: the words xargs gives it
for ((i = 0; i < domains; i++)); do echo "${names[i]} $i"; done |
  xargs -P 8 -L 1 bash -c 'worker "$0" "$1"'
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
touch "$E2E_TMP/done"
wait "$reader_pid"
assert_exit 0 "$VBM" --connect "$LIBVIRT_URI" metrics query host RAM/Usage/Total
samples=$(grep -o ' kB' <<<"$OUT" | wc -l)
((samples >= elapsed_ms / 1000 - 2)) ||
  fail "the collector took $samples samples in ${elapsed_ms} ms while modifyvm ran (want one a second)"
assert_eq "" "$(grep -v 'started for\|stopped' "$VBOX_USER_HOME/vboxkvm-collector.log" || true)" \
  "collector errors"
assert_eq "" "$(cat "$E2E_TMP/errors" 2>/dev/null || true)" "errors from concurrent writers"
assert_eq "" "$(cat "$E2E_TMP/failed" 2>/dev/null || true)" "failed invocations"
for ((i = 0; i < domains; i++)); do
  want=$((256 + i * 8 + writes))
  xml=$(virsh_q dumpxml --inactive "${names[i]}")
  assert_contains "$xml" "<memory unit='KiB'>$((want * 1024))</memory>" "${names[i]} in libvirt"
  assert_contains "$xml" "<currentMemory unit='KiB'>$(((want - writes) * 1024))</currentMemory>"
  assert_exit 0 "$VBM" --connect "$LIBVIRT_URI" showvminfo "${names[i]}" --machinereadable
  assert_eq "" "$ERR" "${names[i]}: store and libvirt disagree"
  assert_contains "$OUT" $'memory='"$want"
  assert_contains "$OUT" "GuestMemoryBalloon=$writes"
done
e2e_log "$((domains * writes)) modifyvm invocations, 8 at a time, over $domains domains in ${elapsed_ms} ms: 0 failures, 0 'database is locked', every domain at its last write; meanwhile $(cat "$E2E_TMP/queries") metrics queries and $samples collector samples, 0 failures"
