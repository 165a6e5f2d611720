#!/usr/bin/env bash
# Page fusion at host scale: vboxkvm's KSM controller against stock KSM, ksmtuned and the
# kernel's scan-time advisor, side by side in one run, on real TCG guests whose memory holds a
# known amount of mergeable content, and the real host KSM.
#
#   bench/bench_pagefusion.sh [SECONDS]
#
# For each configuration (BENCH_GUESTS guests, default "2 4 8", x BENCH_TOUCH MiB touched per
# guest, default "256 1024") and each policy in turn (BENCH_POLICIES, default "stock ksmtuned
# advisor vboxkvm"): every page KSM merged is unmerged first (run=2) and KSM's tunables reset to
# the kernel's defaults; the guests (TOUCH + 128 MiB of RAM each, 1 vCPU) are started together
# with `vboxmanage startvm`, and bench/pagefusion/sampler.py reads KSM's counters and ksmd's CPU
# time every 100 ms for SECONDS (default per configuration: at least 600 s, and long enough for
# stock KSM to do 3.5 full scans of the guests' memory after they filled it).
#
# The workload (guest/memload.c, from the kernel command line): BENCH_FILL_AT s (default 30)
# after boot each guest allocates TOUCH MiB and fills it, BENCH_SHARE percent (default 50) of
# its pages with a pattern that is the same in every guest and the rest with its own random
# bytes (seed = the guest's number), then holds it. So the workload's mergeable amount is known
# in advance: (guests - 1) x the shared pages of one guest. What the guests' boot left identical
# (kernel, initramfs, zero pages) comes on top: bench/pagefusion/census.py counts it at the end
# of each run from the guests' memory itself (every present page hashed): what KSM could merge
# at most, the plateau's reference.
#
#   stock     KSM running at the kernel's defaults (100 pages / 20 ms, smart_scan on).
#   ksmtuned  Debian's ksmtuned script (apt-get download ksmtuned; never installed, so its
#             service never runs) in the foreground with its own ksmtuned.conf, KSM running at
#             its defaults as Debian's ksm.service leaves it. ksmtuned acts only under memory
#             pressure; this host has far more free memory than the guests use, so the config
#             sets KSM_THRES_COEF=100 (the host as if short of memory) and DEBUG=1 (its log).
#   advisor   KSM running with advisor_mode=scan-time (kernel 6.9+) at the kernel's defaults.
#   vboxkvm   KSM stopped; `startvm` hands the guests to vboxkvm's controller (manage-ksm = yes).
#
# Reported per configuration and policy (bench/pagefusion/analyze.py): the plateau (median
# pages_sharing over the last 30 s) against the census, the time until pages_sharing first
# reaches 90% of it, ksmd's CPU over the first 600 s and over the whole run, ksmd's CPU after
# convergence (% of one core over the last 120 s), the controller's own CPU; a PNG per
# configuration of pages_sharing and ksmd's CPU over time, one line per policy. Targets (issue
# 16), per configuration, vboxkvm against stock: time to 90% <= 1/4, ksmd CPU over the first 10
# minutes <= 1/2, after convergence <= 0.2% of one core, plateau >= 98% of stock's and within 5%
# of the census. Exit status 1 if one is missed.
#
# BENCH_OUT (default a new /tmp directory) keeps every CSV, log and census; BENCH_DOCS (e.g.
# docs/bench/pagefusion) also gets the report and the PNGs. The default matrix (6
# configurations x 4 policies, 24 runs) takes about 6 hours: per policy 600, 600 and 610 s for
# 2, 4, 8 x 256 MiB, 600, 885 and 1,711 s for 2, 4, 8 x 1 GiB (stock's full scan of 8 x 1152
# MiB takes ~470 s), 5,006 s in all, x 4 policies = 5.6 h, plus ~1 minute a run to unmerge,
# boot, count and stop. Needs root, the tiny guest image
# (scripts/build-tiny-guest.sh), gnuplot, ~10 GiB of free memory for 8 x 1 GiB, and no other
# KSM controller running; other guests on the host add their merges to KSM's counters (a
# warning says so). Every KSM tunable is put back as found at the end, whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
vbm=${VBM:-$here/build/bin/vboxmanage}
seconds_arg=${1:-}
guest_counts=${BENCH_GUESTS:-2 4 8}
touches=${BENCH_TOUCH:-256 1024}
policies=${BENCH_POLICIES:-stock ksmtuned advisor vboxkvm}
share=${BENCH_SHARE:-50}
fill_at=${BENCH_FILL_AT:-30}
ksm=/sys/kernel/mm/ksm
out=${BENCH_OUT:-$(mktemp -d /tmp/bench_pagefusion.XXXXXX)}
mkdir -p "$out"
tmp=$(mktemp -d)
export VBOXKVM_ETC_DIR=$tmp/etc VBOXKVM_RUN_DIR=$tmp/run VBOX_USER_HOME=$tmp/home
mkdir -p "$VBOXKVM_ETC_DIR" "$VBOXKVM_RUN_DIR"

[[ $(id -u) == 0 ]] || { echo "bench_pagefusion: needs root (KSM's tunables)" >&2; exit 1; }
[[ -w $ksm/run ]] || { echo "bench_pagefusion: no writable $ksm" >&2; exit 1; }
[[ -x $vbm ]] || { echo "bench_pagefusion: build first ($vbm)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "bench_pagefusion: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
if pgrep -f '__pagefusiond' >/dev/null || pgrep -x ksmtuned >/dev/null; then
  echo "bench_pagefusion: another KSM controller runs (vboxkvm's or ksmtuned); stop it first" >&2
  exit 1
fi
for n in $guest_counts $touches $share $fill_at $seconds_arg; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "bench_pagefusion: not a number: '$n'" >&2; exit 2; }
done

# Every writable tunable as found, put back at the end (advisor_mode first: while the advisor
# runs, pages_to_scan is its own; run last).
saved_knobs=()
for f in advisor_mode advisor_max_cpu advisor_max_pages_to_scan advisor_min_pages_to_scan \
  advisor_target_scan_time max_page_sharing merge_across_nodes pages_to_scan sleep_millisecs \
  smart_scan stable_node_chains_prune_millisecs use_zero_pages run; do
  [[ -e $ksm/$f ]] || continue
  v=$(cat "$ksm/$f")
  if [[ $f == advisor_mode && $v == *"["*"]"* ]]; then # "[none] scan-time": the bracketed one
    v=${v#*[}
    v=${v%%]*}
  fi
  saved_knobs+=("$f=$v")
done
restore_knobs() {
  local kv name
  for kv in "${saved_knobs[@]}"; do
    name=${kv%%=*}
    [[ $name == run ]] && continue
    [[ $(cat "$ksm/$name") == "${kv#*=}" || $(cat "$ksm/$name") == *"[${kv#*=}]"* ]] && continue
    case $name in # refused while pages are merged: unmerge first
      max_page_sharing | merge_across_nodes | use_zero_pages) echo 2 >$ksm/run ;;
    esac
    echo "${kv#*=}" >"$ksm/$name" || echo "bench_pagefusion: could not put back $kv" >&2
  done
  for kv in "${saved_knobs[@]}"; do
    [[ ${kv%%=*} == run ]] && echo "${kv#*=}" >$ksm/run
  done
  return 0
}

names=()
ksmtuned_pid=""
stop_guests() {
  local g
  for g in "${names[@]}"; do timeout 30 virsh -q destroy "$g" >/dev/null 2>&1 || true; done
}
undefine_guests() {
  local g
  for g in "${names[@]}"; do timeout 30 virsh -q undefine "$g" >/dev/null 2>&1 || true; done
  names=()
}
stop_ksmtuned() {
  if [[ -n $ksmtuned_pid ]]; then
    pkill -P "$ksmtuned_pid" 2>/dev/null || true # its `sleep 60`
    kill "$ksmtuned_pid" 2>/dev/null || true
    wait "$ksmtuned_pid" 2>/dev/null || true
    ksmtuned_pid=""
  fi
}
cleanup() {
  stop_ksmtuned
  stop_guests
  undefine_guests
  "$vbm" pagefusion manage off >/dev/null 2>&1 || true
  restore_knobs
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/scripts/start-libvirtd.sh" >/dev/null

# ksmtuned, the real script from Debian's package (cached beside the guest image), run in the
# foreground (its `loop` without the `&`) with its own config instead of /etc/ksmtuned.conf.
ksmtuned_script() {
  local dir=/var/cache/vboxkvm/ksmtuned
  if [[ ! -x $dir/usr/sbin/ksmtuned ]]; then
    mkdir -p "$dir"
    (cd "$dir" && apt-get download -q ksmtuned >/dev/null 2>&1 && dpkg -x ksmtuned_*.deb . && rm -f ksmtuned_*.deb)
  fi
  [[ -x $dir/usr/sbin/ksmtuned ]] || return 1
  cp "$dir/etc/ksmtuned.conf" "$tmp/ksmtuned.conf"
  printf '%s\n' "# bench_pagefusion: as on a host short of memory, with its log" \
    "KSM_THRES_COEF=100" "DEBUG=1" "LOGFILE=$tmp/ksmtuned.log" >>"$tmp/ksmtuned.conf"
  sed -e "s|/etc/ksmtuned.conf|$tmp/ksmtuned.conf|g" -e 's|^  loop &$|  loop|' \
    "$dir/usr/sbin/ksmtuned" >"$tmp/ksmtuned"
  grep -qx "  loop" "$tmp/ksmtuned" || { echo "bench_pagefusion: ksmtuned's loop line changed" >&2; return 1; }
  echo "$tmp/ksmtuned"
}

# reset: nothing merged, the kernel's defaults, KSM stopped.
reset_ksm() {
  [[ -e $ksm/advisor_mode ]] && echo none >$ksm/advisor_mode
  echo 2 >$ksm/run
  for ((w = 0; w < 600; w++)); do
    [[ $(cat $ksm/pages_shared) == 0 && $(cat $ksm/pages_sharing) == 0 ]] && break
    sleep 0.1
  done
  echo 0 >$ksm/run
  echo 100 >$ksm/pages_to_scan
  echo 20 >$ksm/sleep_millisecs
  [[ -e $ksm/smart_scan ]] && echo 1 >$ksm/smart_scan
  if [[ -e $ksm/advisor_target_scan_time ]]; then # the kernel's defaults (mm/ksm.c)
    echo 200 >$ksm/advisor_target_scan_time
    echo 70 >$ksm/advisor_max_cpu
    echo 500 >$ksm/advisor_min_pages_to_scan
    echo 30000 >$ksm/advisor_max_pages_to_scan
  fi
  return 0
}

# qemu_pid NAME: the PID of a running guest's QEMU.
qemu_pid() {
  cat "/run/libvirt/qemu/$1.pid"
}

# run_policy POLICY DIR SECONDS MEM_MIB
run_policy() {
  local policy=$1 dir=$2 seconds=$3 mem=$4 sp script g others args=()
  reset_ksm
  "$vbm" pagefusion manage off >/dev/null
  case $policy in
    stock) echo 1 >$ksm/run ;;
    ksmtuned)
      script=$(ksmtuned_script) || { echo "bench_pagefusion: cannot get ksmtuned (apt-get download ksmtuned)" >&2; exit 1; }
      echo 1 >$ksm/run
      PIDFILE=$tmp/ksmtuned.pid bash "$script" &
      ksmtuned_pid=$!
      ;;
    vboxkvm) "$vbm" pagefusion manage on >/dev/null ;;
    advisor)
      [[ -e $ksm/advisor_mode ]] || { echo "bench_pagefusion: this kernel has no KSM advisor: skipped" >&2; return 0; }
      echo scan-time >$ksm/advisor_mode
      echo 1 >$ksm/run
      ;;
    *) echo "bench_pagefusion: unknown policy '$policy'" >&2; exit 2 ;;
  esac
  others=$(pgrep -c -f '^/usr/bin/qemu-system' || true)
  ((others == 0)) || echo "  warning: $others other QEMU guests run: their merges count in KSM's figures" >&2
  python3 "$here/bench/pagefusion/sampler.py" "$seconds" "$dir/$policy.csv" "$VBOXKVM_RUN_DIR" &
  sp=$!
  "$vbm" startvm "${names[@]}" >/dev/null
  wait "$sp"
  # What KSM could merge at most, from the guests' memory, before they stop.
  for g in "${names[@]}"; do args+=("$(qemu_pid "$g"):$mem"); done
  python3 "$here/bench/pagefusion/census.py" "${args[@]}" >"$dir/$policy.census.json" ||
    echo "  $policy: no census" >&2
  cp "$VBOXKVM_RUN_DIR/pagefusiond.log" "$dir/$policy.controller.log" 2>/dev/null || true
  [[ $policy != ksmtuned ]] || cp "$tmp/ksmtuned.log" "$dir/ksmtuned.log" 2>/dev/null || true
  stop_ksmtuned
  stop_guests
  if [[ $policy == vboxkvm ]]; then
    for ((w = 0; w < 100; w++)); do pgrep -f __pagefusiond >/dev/null || break; sleep 0.1; done
    echo "  vboxkvm: after the guests stopped, KSM was given back: $(cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' ')(run pages_to_scan sleep_millisecs)" >&2
  fi
  echo "  $policy: $(($(wc -l <"$dir/$policy.csv") - 1)) readings, census $(head -c 200 "$dir/$policy.census.json" 2>/dev/null)" >&2
}

echo "bench_pagefusion: guests {$guest_counts} x {$touches} MiB touched ($share% shared, filled ${fill_at} s after boot), policies {$policies}, $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
for touch in $touches; do
  for n in $guest_counts; do
    mem=$((touch + 128))
    need_kib=$((n * (mem + 100) * 1024))
    if ((need_kib > $(awk '/MemAvailable/ {print $2}' /proc/meminfo))); then
      echo "config ${n}x${touch}: does not fit ($((need_kib / 1024)) MiB needed): skipped" >&2
      continue
    fi
    # Stock scans 5000 pages/s: 3.5 full scans of the guests' memory after the fill, >= 600 s.
    seconds=${seconds_arg:-$(((n * mem * 256 * 7 / 2) / 5000 + fill_at + 30))}
    [[ -n $seconds_arg ]] || ((seconds >= 600)) || seconds=600
    dir=$out/${n}x${touch}
    mkdir -p "$dir"
    for ((i = 0; i < n; i++)); do
      names+=("vbm-bench-pf-$$-$i")
      define_tiny_guest qemu:///system "${names[-1]}" --memory "$mem" --seed $((i + 1)) \
        --load "s$fill_at,a$touch%$share"
    done
    printf '%s\n' "guests=$n" "touch_mib=$touch" "memory_mib=$mem" "share=$share" "fill_at=$fill_at" \
      "seconds=$seconds" "page_size=$(getconf PAGESIZE)" >"$dir/config"
    echo "config ${n}x${touch}: $n guests of $mem MiB, $touch MiB touched each, $seconds s per policy" >&2
    for p in $policies; do
      echo "  policy $p..." >&2
      run_policy "$p" "$dir" "$seconds" "$mem"
    done
    undefine_guests
  done
done

# shellcheck disable=SC2086 # one word per policy
python3 "$here/bench/pagefusion/analyze.py" --out "$out" ${BENCH_DOCS:+--docs "$BENCH_DOCS"} $policies
