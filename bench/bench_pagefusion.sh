#!/usr/bin/env bash
# Page fusion that pays off in seconds: vboxkvm's KSM controller against stock KSM and ksmtuned,
# side by side in one run, on real identical TCG guests and the real host KSM.
#
#   bench/bench_pagefusion.sh [SECONDS]        (default 300: the first five minutes)
#
# For each policy in turn (BENCH_POLICIES, default "stock ksmtuned vboxkvm"; "advisor" adds the
# kernel's own scan-time advisor): every page KSM merged is unmerged first (run=2) and KSM's
# tunables reset to the kernel's defaults; then BENCH_GUESTS (default 3) identical 256 MiB guests
# are started together with `vboxmanage startvm`, and a sampler reads pages_sharing and ksmd's
# CPU time (/proc/PID/schedstat) every 100 ms for SECONDS.
#   stock     KSM running at its defaults (100 pages / 20 ms) before the guests start.
#   ksmtuned  Debian's ksmtuned script (apt-get download ksmtuned), with KSM running at its
#             defaults as Debian's ksm.service leaves it. ksmtuned only acts under memory
#             pressure; this host has far more free memory than the guests use, so it runs with
#             KSM_THRES_COEF=100, i.e. as on a host that is short of memory.
#   vboxkvm   KSM stopped; `startvm` hands the guests to vboxkvm's controller (manage-ksm = yes).
#   advisor   KSM running with advisor_mode=scan-time (kernel 6.9+) at its default settings.
# Reported per policy: the plateau (median pages_sharing over the last 30 s), the time until
# pages_sharing first reaches 90% of it, ksmd's CPU-seconds over the whole run, and ksmd's
# CPU after convergence (% of one core over the last 120 s), plus the controller's own CPU.
# Targets (issue 5), against stock: time to 90% <= 1/4, CPU over the run <= 1/2, after
# convergence <= 0.2% of one core. Exit status 1 if one is missed. Needs root, KVM or TCG
# guests (scripts/build-tiny-guest.sh), and no other KSM controller running.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
vbm=${VBM:-$here/build/bin/vboxmanage}
seconds=${1:-300}
guests=${BENCH_GUESTS:-3}
policies=${BENCH_POLICIES:-stock ksmtuned vboxkvm}
ksm=/sys/kernel/mm/ksm
out=${BENCH_OUT:-$(mktemp -d /tmp/bench_pagefusion.XXXXXX)}
mkdir -p "$out"
tmp=$(mktemp -d)
export VBOXKVM_ETC_DIR=$tmp/etc VBOXKVM_RUN_DIR=$tmp/run VBOX_USER_HOME=$tmp/home
mkdir -p "$VBOXKVM_ETC_DIR" "$VBOXKVM_RUN_DIR"

[[ $(id -u) == 0 ]] || { echo "bench_pagefusion: needs root (KSM's tunables)" >&2; exit 1; }
[[ -w $ksm/run ]] || { echo "bench_pagefusion: no writable $ksm" >&2; exit 1; }
[[ -x $vbm ]] || { echo "bench_pagefusion: build first ($vbm)" >&2; exit 1; }
if pgrep -f '__pagefusiond' >/dev/null || pgrep -x ksmtuned >/dev/null; then
  echo "bench_pagefusion: another KSM controller runs (vboxkvm's or ksmtuned); stop it first" >&2
  exit 1
fi
read -r orig_run orig_pages orig_sleep <<<"$(cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' ')"

names=()
ksmtuned_pid=""
stop_guests() {
  for g in "${names[@]}"; do timeout 30 virsh -q destroy "$g" >/dev/null 2>&1 || true; done
}
stop_ksmtuned() {
  if [[ -n $ksmtuned_pid ]]; then
    pkill -P "$ksmtuned_pid" 2>/dev/null || true
    kill "$ksmtuned_pid" 2>/dev/null || true
    ksmtuned_pid=""
  fi
}
cleanup() {
  stop_ksmtuned
  stop_guests
  for g in "${names[@]}"; do timeout 30 virsh -q undefine "$g" >/dev/null 2>&1 || true; done
  "$vbm" pagefusion manage off >/dev/null 2>&1 || true
  [[ -e $ksm/advisor_mode ]] && echo none >$ksm/advisor_mode
  echo "$orig_pages" >$ksm/pages_to_scan
  echo "$orig_sleep" >$ksm/sleep_millisecs
  echo "$orig_run" >$ksm/run
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT

"$here/scripts/start-libvirtd.sh" >/dev/null
for ((i = 0; i < guests; i++)); do
  names+=("vbm-bench-pf-$$-$i")
  define_tiny_guest qemu:///system "${names[-1]}"
done

# ksmtuned, the real script from Debian's package (cached beside the guest image).
ksmtuned_script() {
  local dir=/var/cache/vboxkvm/ksmtuned
  if [[ ! -x $dir/usr/sbin/ksmtuned ]]; then
    mkdir -p "$dir"
    (cd "$dir" && apt-get download -q ksmtuned >/dev/null 2>&1 && dpkg -x ksmtuned_*.deb . && rm -f ksmtuned_*.deb)
  fi
  echo "$dir/usr/sbin/ksmtuned"
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
  return 0
}

sampler=$(cat <<'PY'
import os, sys, time
ksm = "/sys/kernel/mm/ksm/"
seconds, path = float(sys.argv[1]), sys.argv[2]
ksmd = next(p for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/comm").read().strip() == "ksmd")
def controller_ns():
    try:
        pid = open(os.environ["VBOXKVM_RUN_DIR"] + "/pagefusiond.lock").read().strip()
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) * 10_000_000  # utime + stime, ticks of 10 ms
    except Exception:
        return 0
with open(path, "w") as out:
    print("t pages_sharing pages_shared ksmd_ns pages_to_scan sleep_millisecs controller_ns", file=out)
    t0 = time.monotonic()
    while (t := time.monotonic() - t0) < seconds:
        r = lambda f: open(ksm + f).read().strip()
        ns = open(f"/proc/{ksmd}/schedstat").read().split()[0]
        print(f"{t:.2f} {r('pages_sharing')} {r('pages_shared')} {ns} {r('pages_to_scan')} "
              f"{r('sleep_millisecs')} {controller_ns()}", file=out, flush=True)
        time.sleep(0.1)
PY
)

run_policy() {
  local policy=$1 csv=$out/$1.csv sp
  reset_ksm
  case $policy in
    stock) echo 1 >$ksm/run; "$vbm" pagefusion manage off >/dev/null ;;
    ksmtuned)
      local script
      script=$(ksmtuned_script)
      [[ -x $script ]] || { echo "bench_pagefusion: cannot get ksmtuned (apt-get download ksmtuned)" >&2; exit 1; }
      echo 1 >$ksm/run
      "$vbm" pagefusion manage off >/dev/null
      KSM_THRES_COEF=100 PIDFILE=$tmp/ksmtuned.pid bash "$script"
      ksmtuned_pid=$(cat "$tmp/ksmtuned.pid")
      ;;
    vboxkvm) "$vbm" pagefusion manage on >/dev/null ;;
    advisor)
      [[ -e $ksm/advisor_mode ]] || { echo "bench_pagefusion: this kernel has no KSM advisor" >&2; return 0; }
      echo scan-time >$ksm/advisor_mode
      echo 1 >$ksm/run
      "$vbm" pagefusion manage off >/dev/null
      ;;
    *) echo "bench_pagefusion: unknown policy '$policy'" >&2; exit 2 ;;
  esac
  python3 -c "$sampler" "$seconds" "$csv" &
  sp=$!
  "$vbm" startvm "${names[@]}" >/dev/null
  wait "$sp"
  cp "$VBOXKVM_RUN_DIR/pagefusiond.log" "$out/$policy.controller.log" 2>/dev/null || true
  stop_ksmtuned
  stop_guests
  if [[ $policy == vboxkvm ]]; then
    for ((w = 0; w < 100; w++)); do pgrep -f __pagefusiond >/dev/null || break; sleep 0.1; done
    echo "  vboxkvm: after the guests stopped, KSM was given back: $(cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' ')(run pages_to_scan sleep_millisecs)"
  fi
  echo "  $policy: sampled $(($(wc -l <"$csv") - 1)) readings into $csv" >&2
}

echo "bench_pagefusion: $guests identical 256 MiB TCG guests, ${seconds} s per policy, $(nproc) CPUs, kernel $(uname -r)"
for p in $policies; do
  echo "policy $p..." >&2
  run_policy "$p"
done

# shellcheck disable=SC2086 # one word per policy
python3 - "$out" "$seconds" $policies <<'PY'
import statistics, sys
out, seconds, policies = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
rows = {}
for p in policies:
    try:
        lines = open(f"{out}/{p}.csv").read().split("\n")[1:]
    except FileNotFoundError:
        continue
    data = [list(map(float, l.split())) for l in lines if l]
    t = [d[0] for d in data]; sharing = [d[1] for d in data]; ns = [d[3] for d in data]; cns = [d[6] for d in data]
    plateau = statistics.median([s for tt, s in zip(t, sharing) if tt >= t[-1] - 30])
    t90 = next((tt for tt, s in zip(t, sharing) if s >= 0.9 * plateau and plateau > 0), float("nan"))
    cpu_total = (ns[-1] - ns[0]) / 1e9
    i120 = next(i for i, tt in enumerate(t) if tt >= t[-1] - 120)
    steady = (ns[-1] - ns[i120]) / 1e9 / (t[-1] - t[i120]) * 100
    ctl = (cns[-1] - cns[0]) / 1e9
    rows[p] = dict(plateau=plateau, t90=t90, cpu=cpu_total, steady=steady, ctl=ctl, mb=plateau * 4096 / 2**20)
print()
print(f"{'policy':10} {'plateau (pages)':>16} {'saved':>8} {'t to 90%':>9} {'ksmd CPU 0-%ds' % seconds:>17} {'after conv.':>12} {'controller CPU':>15}")
for p, r in rows.items():
    print(f"{p:10} {r['plateau']:16.0f} {r['mb']:6.0f}MB {r['t90']:8.1f}s {r['cpu']:16.2f}s {r['steady']:11.3f}% {r['ctl']:14.2f}s")
if "stock" in rows:
    s = rows["stock"]
    print()
    print("ratios against stock KSM (lower is better):")
    for p, r in rows.items():
        if p != "stock":
            print(f"  {p:10} time to 90%: {r['t90'] / s['t90']:.3f}x   ksmd CPU over the run: {r['cpu'] / s['cpu']:.3f}x"
                  f"   after convergence: {r['steady'] / s['steady']:.3f}x   plateau: {r['plateau'] / s['plateau']:.3f}x")
ok = True
if "stock" in rows and "vboxkvm" in rows:
    s, v = rows["stock"], rows["vboxkvm"]
    checks = [("time to 90% <= 1/4 of stock", v["t90"] <= s["t90"] / 4),
              (f"ksmd CPU over {seconds:.0f} s <= 1/2 of stock", v["cpu"] <= s["cpu"] / 2),
              ("after convergence <= 0.2% of one core", v["steady"] <= 0.2),
              ("plateau >= 95% of stock's", v["plateau"] >= 0.95 * s["plateau"])]
    print()
    for name, good in checks:
        print(f"  {'met' if good else 'MISSED'}: {name}")
        ok = ok and good
sys.exit(0 if ok else 1)
PY
