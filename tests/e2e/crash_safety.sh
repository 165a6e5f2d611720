#!/usr/bin/env bash
# kill -9 at random points of modifyvm writes (VBM_CRASH_ROUNDS, default 200; the full run is
# 1000): the store always opens with integrity "ok", readers never see store and libvirt apart
# (an interrupted change counts once libvirt holds it), and the next writer leaves no intent.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
rounds=${VBM_CRASH_ROUNDS:-200}
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
db=$VBOX_USER_HOME/vboxkvm.db
# The sqlite3 shell has no busy timeout of its own; a killed writer may still be exiting.
sql() { sqlite3 -cmd '.timeout 10000' "$db" "$1"; }
d=$(define_guest crash --memory 1024)
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon 100

killed=0 finished=0 interrupted_intents=0
for ((i = 0; i < rounds; i++)); do
  mem=$((512 + (i % 7) * 64))
  vbm modifyvm "$d" --memory "$mem" --page-fusion "$( ((i % 2)) && echo on || echo off)" \
    >/dev/null 2>&1 &
  pid=$!
  # Somewhere in its ~15 ms: before the store is opened, around the definition, after commit.
  # (A random moment to kill at, not a wait for anything.)
  sleep "0.0$((RANDOM % 25))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  if wait "$pid" 2>/dev/null; then finished=$((finished + 1)); fi
  assert_eq ok "$(sql 'PRAGMA integrity_check')" "store integrity after round $i"
  pending=$(sql 'SELECT count(*) FROM pending_change')
  [[ $pending =~ ^[01]$ ]] || fail "round $i: cannot count intents ('$pending')"
  interrupted_intents=$((interrupted_intents + pending))
  assert_exit 0 vbm showvminfo "$d" --machinereadable
  assert_eq "" "$ERR" "round $i: store and libvirt disagree"
  assert_contains "$OUT" "GuestMemoryBalloon=100" "round $i: the balloon in MB taken survived"
done
assert_eq "$rounds" "$i" "every round ran"
# The next writer finishes or forgets whatever was interrupted.
assert_exit 0 vbm modifyvm "$d" --large-pages off
assert_eq 0 "$(sql 'SELECT count(*) FROM pending_change')" "an intent was left behind"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_eq "" "$ERR"
mem=$(sed -n 's/^memory=//p' <<<"$OUT")
assert_eq $((mem * 1024)) "$(virsh_q dumpxml --inactive "$d" | sed -n "s:.*<memory unit='KiB'>\([0-9]*\)<.*:\1:p")"
e2e_log "rounds=$rounds killed=$killed completed=$finished interrupted-intents-seen=$interrupted_intents integrity=ok"
