#!/usr/bin/env bash
# The metrics collector's cost per period against the shell loop an admin would otherwise run,
# `for d in VMS; do virsh dommemstat $d; done`, over the same guests:
#  (a) 100 running domains of a libvirt test-driver node (generated here; the driver runs
#      in-process, in the collector and in each virsh alike);
#  (b) real tiny TCG guests on a real libvirtd (BENCH_GUESTS, default 3); here libvirtd's CPU
#      serving the calls is counted on both sides too.
#   bench/bench_metrics.sh [SECONDS]      (collector window per case, default 30)
# The collector samples every metric of every object ('*', period 1) for SECONDS beats; its
# CPU comes from /proc/PID/stat (user+sys, whole process) over that window. The loop's CPU is
# bash's `time` over a few iterations. Target: 100 VMs sampled every second for <= 1% of one
# core, and >= 10x cheaper than the loop.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
vbm=${VBM:-$here/build/bin/vboxmanage}
seconds=${1:-30}
guests=${BENCH_GUESTS:-3}
loops=3
tmp=$(mktemp -d)
hz=$(getconf CLK_TCK)
cleanup() {
  VBOX_USER_HOME=$tmp/a "$vbm" -c "test://$tmp/node100.xml" metrics disable >/dev/null 2>&1 || true
  VBOX_USER_HOME=$tmp/b "$vbm" metrics disable >/dev/null 2>&1 || true
  for ((i = 0; i < guests; i++)); do
    timeout 30 virsh -q destroy "vbm-bench-metrics-$$-$i" >/dev/null 2>&1 || true
    timeout 30 virsh -q undefine "vbm-bench-metrics-$$-$i" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process
ms_of_ticks() { echo $(($1 * 1000 / hz)); }
# until_ok TIMEOUT_S WHAT CMD...: run CMD every 0.2 s until it succeeds; exit 1 after TIMEOUT_S.
until_ok() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || { echo "bench_metrics: $what: not within $1 s" >&2; exit 1; }
    sleep 0.2
  done
}
# beats URI N: the collector has sampled the host N times.
beats() {
  local n
  n=$("$vbm" -c "$1" metrics query --json host RAM/Usage/Used |
    python3 -c 'import json, sys; print(sum(len(r.get("times_ms", [])) for r in json.load(sys.stdin)))')
  ((${n:-0} >= $2))
}
# reporting NAME: the guest's balloon driver reports statistics (it has booted).
reporting() {
  [[ $(virsh -q dommemstat "$1" 2>/dev/null | awk '$1 == "last_update" { print $2 }') -gt 0 ]]
}

# collector_ms STORE_DIR URI: set up '*' in a fresh store, let the collector run $seconds beats;
# C_MS = its CPU milliseconds over that window, DAEMON_MS = libvirtd's (if $daemon is set).
collector_ms() {
  local home=$1 uri=$2 pid t0 t1 d0=0 d1=0
  export VBOX_USER_HOME=$home
  "$vbm" -c "$uri" metrics setup --period 1 --samples 60 '*' >/dev/null
  # Past the first beats (connection, statement preparation).
  until_ok 30 "the collector's first 2 beats" beats "$uri" 2
  pid=$(cat "$home/vboxkvm-collector.lock")
  t0=$(ticks "$pid")
  [[ -n ${daemon:-} ]] && d0=$(ticks "$daemon")
  sleep "$seconds" # the measurement window itself
  t1=$(ticks "$pid")
  [[ -n ${daemon:-} ]] && d1=$(ticks "$daemon")
  "$vbm" -c "$uri" metrics disable >/dev/null
  DAEMON_MS=$(ms_of_ticks $((d1 - d0)))
  C_MS=$(ms_of_ticks $((t1 - t0)))
}

# loop_ms URI NAMES...: L_MS = CPU ms of one `virsh dommemstat` pass over NAMES (mean of
# $loops), DAEMON_MS = libvirtd's per pass (if $daemon is set).
loop_ms() {
  local uri=$1 TIMEFORMAT='%U %S' t d0=0 d1=0
  shift
  [[ -n ${daemon:-} ]] && d0=$(ticks "$daemon")
  t=$( { time (for ((l = 0; l < loops; l++)); do for d in "$@"; do virsh -q -c "$uri" dommemstat "$d" >/dev/null; done; done); } 2>&1)
  [[ -n ${daemon:-} ]] && d1=$(ticks "$daemon")
  DAEMON_MS=$(($(ms_of_ticks $((d1 - d0))) / loops))
  L_MS=$(awk -v t="$t" -v n="$loops" 'BEGIN { split(t, a, " "); printf "%d", (a[1] + a[2]) * 1000 / n }')
}

report() { # CASE N COLLECTOR_MS_PER_BEAT LOOP_MS
  awk -v c="$1" -v n="$2" -v cm="$3" -v lm="$4" 'BEGIN {
    printf "%-28s %4d VMs  collector %7.2f ms/period (%5.2f%% of a core at 1/s)   virsh loop %8.1f ms/period   ratio %6.1fx\n",
      c, n, cm, cm / 10, lm, lm / cm }'
}

echo "bench_metrics: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), collector window ${seconds} s"

# (a) 100 test-driver domains.
{
  echo '<?xml version="1.0"?>'
  echo '<node>'
  for ((i = 0; i < 100; i++)); do
    printf '<domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0"><name>bench%03d</name><uuid>bbbbbbbb-1111-4111-8111-%012d</uuid><memory unit="MiB">1024</memory><currentMemory unit="MiB">768</currentMemory><vcpu>1</vcpu><os><type>hvm</type></os><devices><memballoon model="virtio"/></devices><test:runstate>1</test:runstate></domain>\n' "$i" "$i"
  done
  echo '</node>'
} >"$tmp/node100.xml"
uri="test://$tmp/node100.xml"
names=()
for ((i = 0; i < 100; i++)); do names+=("$(printf 'bench%03d' "$i")"); done
n=$(virsh -q -c "$uri" list --name | grep -c bench)
((n == 100)) || { echo "the test node has $n running domains, not 100" >&2; exit 1; }
daemon=""
collector_ms "$tmp/a" "$uri"
c=$C_MS
rows=$(sqlite3 "$tmp/a/vboxkvm.db" "SELECT count(*) FROM metric_sample" 2>/dev/null || echo "?")
loop_ms "$uri" "${names[@]}"
l=$L_MS
report "test driver (in-process)" 100 "$(awk -v c="$c" -v s="$seconds" 'BEGIN { print c / s }')" "$l"
echo "  (collector: $c ms CPU over $seconds beats; $rows sample rows kept in the store)"

# (b) real tiny guests on libvirtd.
"$here/scripts/start-libvirtd.sh" >/dev/null
gnames=()
for ((i = 0; i < guests; i++)); do
  g=vbm-bench-metrics-$$-$i
  gnames+=("$g")
  define_tiny_guest qemu:///system "$g"
  virsh -q -c qemu:///system start "$g" >/dev/null
done
for g in "${gnames[@]}"; do until_ok 120 "$g booted (balloon statistics)" reporting "$g"; done
daemon=$(pgrep -xo libvirtd)
collector_ms "$tmp/b" qemu:///system
c=$C_MS cd_ms=$DAEMON_MS
loop_ms qemu:///system "${gnames[@]}"
l=$L_MS ld_ms=$DAEMON_MS
per_beat=$(awk -v c="$c" -v s="$seconds" 'BEGIN { print c / s }')
report "real guests, client only" "$guests" "$per_beat" "$l"
report "real guests, + libvirtd" "$guests" \
  "$(awk -v c="$c" -v d="$cd_ms" -v s="$seconds" 'BEGIN { print (c + d) / s }')" "$((l + ld_ms))"
echo "  (collector $c ms + libvirtd $cd_ms ms over $seconds beats; loop: virsh $l ms + libvirtd $ld_ms ms per pass)"
