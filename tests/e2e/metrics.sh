#!/usr/bin/env bash
# metrics on real guests and the real host KSM: two identical page-fusion guests and one with
# page fusion off. After setup, the background collector samples RAM/VMM/Shared (host) and
# Guest/RAM/Usage/Shared (per VM) > 0 for the page-fusion guests and 0 for the other (absent
# per VM on a remote URI); Guest/RAM/Usage/Balloon follows controlvm; samples outlive the
# commands; collect prints VirtualBox's lines and stops on SIGINT; --detach names the collector;
# the Prometheus textfile parses; a stopped VM's metrics vanish; disable stops sampling and the
# collector exits. Disk/Usage/Used is the guests' disk images' size (the third guest has a 16 MiB
# raw disk; the others none: 0 MB); Net/Rate/* is 0 B/s, because the tiny guests have no network
# interface (VirtualBox sums over none); the host's Disk/<disk>/* and Net/<interface>/* exist (on
# a local URI) with this machine's figures.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
ksm=/sys/kernel/mm/ksm
[[ -w $ksm/run ]] || skip "needs a writable $ksm (KSM) to see page fusion"
remote=0
[[ $LIBVIRT_URI == *://?* && $LIBVIRT_URI != *:///* ]] && remote=1

# KSM as the test found it comes back at the end; meanwhile it scans fast.
read -r ksm_run ksm_pages ksm_sleep <<<"$(cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' ')"
e2e_on_cleanup "echo $ksm_pages >$ksm/pages_to_scan; echo $ksm_sleep >$ksm/sleep_millisecs; echo $ksm_run >$ksm/run"
stop_metrics() { vbm metrics disable >/dev/null 2>&1; }
e2e_on_cleanup stop_metrics
echo 2 >$ksm/run # unmerge everything: what merges from here on is these guests'
wait_until 30 bash -c "[ \$(cat $ksm/pages_shared) = 0 ]" || fail "KSM did not unmerge"
echo 2000 >$ksm/pages_to_scan
echo 10 >$ksm/sleep_millisecs

g1=$(define_guest g1 --memory 256)
g2=$(define_guest g2 --memory 256)
g3=$(define_guest nofusion --memory 256 --no-share-pages --cache-disk 16)
for g in "$g1" "$g2" "$g3"; do start_guest "$g"; done
for g in "$g1" "$g2" "$g3"; do wait_guest_ready "$g"; done

# values METRIC OBJECT: the values of one query row, e.g. "0 kB, 4 kB" (empty if none).
values() {
  vbm metrics query "$1" "$2" | awk -v m="$2" 'NR > 2 && $2 == m { sub(/^[^ ]+ +[^ ]+ +/, ""); print }'
}
last_kb() { values "$@" | awk -F', ' '{ v = $NF; sub(/ kB$/, "", v); print v }'; }
gt0() { local v; v=$(last_kb "$1" "$2"); [[ -n $v && $v -gt 0 ]]; }

# setup starts the store's collector (with a Prometheus textfile directory in its environment).
prom=$E2E_TMP/prom
mkdir -p "$prom"
assert_exit 0 env VBOXKVM_METRICS_TEXTFILE_DIR="$prom" "$VBM" --connect "$LIBVIRT_URI" \
  metrics setup --list --period 1 --samples 5 host RAM/VMM
assert_contains "$OUT" "host       RAM/VMM             "
assert_exit 0 vbm metrics setup --period 1 --samples 5 '*' Guest/RAM/Usage,RAM/Usage
assert_eq "" "$OUT$ERR" "setup without --list prints nothing"
lock=$VBOX_USER_HOME/vboxkvm-collector.lock
wait_until 5 test -s "$lock" || fail "no collector wrote its PID to $lock"
collector=$(cat "$lock")
kill -0 "$collector" || fail "collector $collector is not running"

# Page fusion: KSM merges the identical guests.
echo 1 >$ksm/run
wait_until 90 gt0 host RAM/VMM/Shared || fail "RAM/VMM/Shared stayed 0: $(values host RAM/VMM/Shared)"
e2e_log "host RAM/VMM/Shared: $(values host RAM/VMM/Shared) after ${WAITED_MS} ms"
if ((remote)); then
  assert_eq "" "$(values "$g1" Guest/RAM/Usage/Shared)" "per-VM Shared is absent on a remote URI"
else
  wait_until 30 gt0 "$g1" Guest/RAM/Usage/Shared ||
    fail "$g1 Guest/RAM/Usage/Shared stayed 0: $(values "$g1" Guest/RAM/Usage/Shared)"
  wait_until 30 gt0 "$g2" Guest/RAM/Usage/Shared || fail "$g2 Guest/RAM/Usage/Shared stayed 0"
  e2e_log "Guest/RAM/Usage/Shared: g1 $(last_kb "$g1" Guest/RAM/Usage/Shared) kB, g2 $(last_kb "$g2" Guest/RAM/Usage/Shared) kB"
  v=$(values "$g3" Guest/RAM/Usage/Shared)
  [[ -n $v && -z ${v//[0 kB,]/} ]] || fail "the page-fusion-off guest must share nothing: '$v'"
fi
has_values() { [[ -n $(values "$1" "$2") ]]; }
wait_until 5 has_values "$g1" RAM/Usage/Used || fail "no RAM/Usage/Used for $g1"
wait_until 5 has_values host RAM/VMM/Used || fail "no RAM/VMM/Used"

# Disk/Usage/Used and Net/Rate (Machine::i_registerMetrics), the host's Disk/* and Net/*.
assert_exit 0 vbm metrics setup --period 1 --samples 5 '*' 'Disk/*,Net/*'
last_mb() { values "$1" "$2" | awk -F', ' '{ v = $NF; sub(/ MB$/, "", v); print v }'; }
wait_until 10 has_values "$g3" Disk/Usage/Used || fail "no Disk/Usage/Used for $g3"
capacity=$(_gvirsh "$g3" domblkinfo "$g3" vda | awk '$1 == "Capacity:" { print $2 }')
used=$(last_mb "$g3" Disk/Usage/Used)
if ! [[ -n $used && -n $capacity ]] || ((used <= 0 || used * 1048576 > capacity)); then
  fail "$g3 Disk/Usage/Used '$used' MB: want > 0 and <= its disk's virtual size ($capacity bytes)"
fi
e2e_log "$g3 Disk/Usage/Used: $used MB (virtual size $capacity bytes)"
assert_eq 0 "$(last_mb "$g1" Disk/Usage/Used)" "a guest without disks uses 0 MB"
wait_until 10 has_values "$g1" Net/Rate/Rx || fail "no Net/Rate/Rx for $g1"
for m in Net/Rate/Rx Net/Rate/Tx; do
  v=$(values "$g1" $m)
  [[ -z ${v//[0 B\/s,]/} ]] || fail "$g1 has no network interface: $m must be 0 B/s, not '$v'"
done
host_rows=$(vbm metrics list host 'Disk/*:,Net/*:' | awk 'NR > 2 { print $2 }')
if ((remote)); then
  assert_eq "" "$host_rows" "a remote host has no Disk/Net metrics"
else
  # The disk behind / as VirtualBox names it, and its size from sysfs, to the MB.
  disk=$(sed -n 's|^Disk/\([^/]*\)/Usage/Total$|\1|p' <<<"$host_rows" | head -1)
  [[ -n $disk ]] || fail "no host Disk/<disk>/Usage/Total: $host_rows"
  want=$(($(cat "/sys/block/$disk/size") * 512 / 1048576))
  total_is() { [[ $(last_mb host "Disk/$disk/Usage/Total") == "$want" ]]; }
  wait_until 10 total_is || fail "host Disk/$disk/Usage/Total: $(values host "Disk/$disk/Usage/Total"), want $want MB"
  wait_until 10 has_values host "Disk/$disk/Load/Util" || fail "no host Disk/$disk/Load/Util"
  e2e_log "host Disk/$disk: $want MB, busy $(values host "Disk/$disk/Load/Util")"
  while read -r ifc; do
    [[ $(cat "/sys/class/net/$ifc/type") == 1 ]] || fail "Net/$ifc is not an Ethernet interface"
    speed=$(cat "/sys/class/net/$ifc/speed" 2>/dev/null || true)
    if [[ $speed =~ ^[1-9][0-9]*$ && $(($(cat "/sys/class/net/$ifc/flags") & 1)) == 1 ]]; then
      speed_is() { [[ $(values host "Net/$ifc/LinkSpeed") == *"$speed mbit/s" ]]; }
      wait_until 10 speed_is || fail "host Net/$ifc/LinkSpeed: $(values host "Net/$ifc/LinkSpeed"), want $speed mbit/s"
      wait_until 10 has_values host "Net/$ifc/Load/Rx" || fail "no host Net/$ifc/Load/Rx"
    else
      # No speed (down, or the driver does not say): VirtualBox collects neither.
      assert_eq "" "$(values host "Net/$ifc/LinkSpeed")$(values host "Net/$ifc/Load/Rx")" \
        "Net/$ifc without a link speed ('$speed') has no LinkSpeed or Load samples"
    fi
  done < <(sed -n 's|^Net/\([^/]*\)/LinkSpeed$|\1|p' <<<"$host_rows")
  e2e_log "host interfaces with metrics: $(sed -n 's|^Net/\([^/]*\)/LinkSpeed$|\1|p' <<<"$host_rows" | tr '\n' ' ')"
fi

# The balloon, as the guest really has it.
assert_exit 0 vbm controlvm "$g1" guestmemoryballoon 64 --wait 30
balloon_is() { [[ $(last_kb "$g1" Guest/RAM/Usage/Balloon) == "$1" ]]; }
wait_until 10 balloon_is 65536 || fail "Guest/RAM/Usage/Balloon: $(values "$g1" Guest/RAM/Usage/Balloon), want 65536 kB last"
# The "ballooned" figure also reaches the host's sum.
ballooned_ge() { local v; v=$(last_kb host RAM/VMM/Ballooned); [[ -n $v ]] && ((v >= $1)); }
wait_until 10 ballooned_ge 65536 ||
  fail "RAM/VMM/Ballooned $(last_kb host RAM/VMM/Ballooned) kB < the 64 MB balloon"

# Samples outlive the commands and keep coming, one a period; the ring holds 5.
# times_ms METRIC: the times of the host's samples of METRIC, oldest first (query --json).
times_ms() {
  vbm metrics query --json host "$1" |
    python3 -c 'import json, sys; m = sys.argv[1]; print(*[t for r in json.load(sys.stdin) if r["metric"] == m for t in r.get("times_ms", [])])' "$1"
}
newest_ms() { local t; t=$(times_ms "$1"); t=${t##* }; echo "${t:-0}"; }
t1=$(newest_ms RAM/VMM/Used)
later_than() { (($(newest_ms RAM/VMM/Used) > $1)); }
wait_until 5 later_than "$t1" || fail "no sample of RAM/VMM/Used after the one at $t1 ms within 5 s (period 1 s)"
wait_until 5 later_than "$(newest_ms RAM/VMM/Used)" || fail "no second new sample of RAM/VMM/Used within 5 s"
read -ra ts <<<"$(times_ms RAM/VMM/Used)"
assert_eq 5 "${#ts[@]}" "samples of RAM/VMM/Used in a ring of 5: ${ts[*]}"
for ((i = 1; i < ${#ts[@]}; i++)); do
  ((ts[i] > ts[i - 1])) || fail "samples are not one per beat, oldest first: ${ts[*]}"
done
assert_exit 0 vbm metrics query host RAM/VMM/Used:avg,RAM/VMM/Used
assert_contains "$OUT" "RAM/VMM/Used:avg"

# JSON for scripts.
assert_exit 0 vbm metrics query --json "$g1" Guest/RAM/Usage/Balloon
python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[0]["metric"]=="Guest/RAM/Usage/Balloon" and r[0]["values"][-1]==65536, r' <<<"$OUT" ||
  fail "query --json: $OUT"

# The Prometheus textfile: complete families, well-formed samples, replaced atomically.
wait_until 5 test -s "$prom/vboxkvm.prom" || fail "no $prom/vboxkvm.prom"
python3 - "$prom/vboxkvm.prom" <<'EOF' || fail "bad Prometheus text: $(head -20 "$prom/vboxkvm.prom")"
import re, sys
text = open(sys.argv[1]).read()
typed = set()
samples = 0
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    m = re.match(r"# TYPE (\w+) (gauge|counter)$", line)
    if m:
        typed.add(m.group(1)); continue
    m = re.match(r'(\w+)\{((?:\w+="(?:[^"\\]|\\.)*",?)*)\} (-?[0-9.e+]+)$', line)
    assert m, line
    assert m.group(1) in typed, line
    float(m.group(3)); samples += 1
assert "vboxkvm_host_ram_vmm_shared_bytes" in typed and "vboxkvm_vm_guest_ram_usage_balloon_bytes" in typed
assert samples >= 8
EOF
[[ -z $(find "$prom" -name '*.tmp') ]] || fail "temporary textfiles left behind"

# collect: VirtualBox's lines, every period, until SIGINT, which ends it by the signal (status
# 130) as it ends VBoxManage. timeout passes our SIGINT on, and kills a collect that ignored it
# after 30 s (exit 137).
timeout --preserve-status -s KILL 30 "$VBM" --connect "$LIBVIRT_URI" metrics collect host RAM/Usage/Used \
  >"$E2E_TMP/collect.out" 2>"$E2E_TMP/collect.err" &
collect_pid=$!
collect_lines() { # at least $1 sample lines
  local n
  n=$(grep -Ec '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} host       RAM/Usage/Used       [0-9]+ kB$' "$E2E_TMP/collect.out" || true)
  ((n >= $1))
}
wait_until 10 collect_lines 2 || fail "collect printed fewer than 2 sample lines in 10 s: $(cat "$E2E_TMP/collect.out")"
kill -INT "$collect_pid"
rc=0
wait "$collect_pid" || rc=$?
OUT=$(cat "$E2E_TMP/collect.out")
assert_eq 130 "$rc" "collect's exit status after SIGINT (stderr: $(cat "$E2E_TMP/collect.err"))"
assert_eq "Time stamp   Object     Metric               Value" "$(head -1 <<<"$OUT")"
assert_eq "------------ ---------- -------------------- --------------------" "$(sed -n 2p <<<"$OUT")"
assert_exit 0 vbm metrics collect --detach host CPU/Load/User
assert_contains "$ERR" "collector pid $collector"

# A VM's metrics end with its run.
assert_exit 0 vbm controlvm "$g2" poweroff
no_metrics() { [[ $(vbm metrics list "$g2" | wc -l) == 2 ]]; }
wait_until 10 no_metrics || fail "a stopped VM still has metrics: $(vbm metrics list "$g2")"
assert_exit 0 vbm metrics list "$g2"
assert_eq 2 "$(wc -l <<<"$OUT")" "a stopped VM has no metrics"
assert_exit 0 vbm metrics query '*' Guest/RAM/Usage/Total
assert_not_contains "$OUT" "$g2"
assert_contains "$OUT" "$g1"

# disable: sampling stops, the collector exits, the samples stay.
assert_exit 0 vbm metrics disable
before=$(values host RAM/VMM/Used)
wait_until 5 bash -c "! kill -0 $collector 2>/dev/null" || fail "collector $collector still runs after disable"
# Not a wait for anything: this pause is the check. For longer than a period nothing samples
# (no collector comes back, no last beat lands) and the samples stay as they were.
sleep 1.2
assert_eq "$before" "$(values host RAM/VMM/Used)" "samples after disable"
[[ -n $before ]] || fail "disable kept no samples"
[[ ! -e $prom/vboxkvm.prom ]] || fail "the textfile of a stopped collector must go (stale metrics)"
e2e_log "collector $collector sampled, survived the CLI, and exited after disable"
