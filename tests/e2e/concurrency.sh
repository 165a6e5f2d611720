#!/usr/bin/env bash
# Concurrent writers: VBM_CONC_DOMAINS (default 50) real domains, VBM_CONC_WRITES writes each
# (default 20: 1,000 invocations), 8 at a time. Each domain's writes come in order from one
# worker, so its last write is known: the store and libvirt must both end there, with no
# "database is locked" and no invocation that said success but did not apply.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
domains=${VBM_CONC_DOMAINS:-50}
writes=${VBM_CONC_WRITES:-20}
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
start=$(date +%s%N)
for ((i = 0; i < domains; i++)); do echo "${names[i]} $i"; done |
  xargs -P 8 -L 1 bash -c 'worker "$0" "$1"'
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
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
e2e_log "$((domains * writes)) modifyvm invocations, 8 at a time, over $domains domains in ${elapsed_ms} ms: 0 failures, 0 'database is locked', every domain at its last write"
