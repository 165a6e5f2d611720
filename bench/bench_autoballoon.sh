#!/usr/bin/env bash
# Automatic ballooning on real TCG guests that really use memory: the project's balloon service
# (`vboxmanage balloonctrl --balloon-policy vboxkvm`) against the anchors, side by side in one run.
#
#   bench/bench_autoballoon.sh [run] [--scenarios LIST] [--policies LIST] [--seeds LIST]
#                              [--minutes N] [--guests N] [--memory MIB] [--budget MIB]
#                              [--interval S] [--out DIR] [--docs] [-v]
#   bench/bench_autoballoon.sh cpu [--guests 16] [--memory 128] [--minutes 2] [--out DIR]
#   bench/bench_autoballoon.sh report [--out DIR] [--docs]
#
# run     For each scenario, seed and policy (in that order), one run: GUESTS (4) guests of
#         MEMORY (384) MiB are defined as that policy's product defines them, the policy's
#         service (if any) started, the guests started with the scenario's warm-up on their
#         kernel command line (memload, guest/README.md); once every guest finished it, the
#         scenario's demand is sent to the guests' control channels at planned times
#         (bench/autoballoon/conductor.py) for the scenario's length; a sampler
#         (bench/autoballoon/sampler.py) records balloons, guest statistics and QEMU's memory
#         every 100 ms; then everything is stopped and the guests removed. Then the report.
# cpu     The service's CPU with 16 idle 128 MiB guests (vboxkvm policy) over MINUTES (2).
# report  Only the analysis, of the runs already in OUT (bench/autoballoon/analyze.py).
#
# Scenarios (bench/autoballoon/scenario.py; default all, seconds after the warm-up):
#   staggered (180)  feasible: one guest at a time spikes 64-192 MiB at 32-256 MiB/s, held 20-90 s
#   all-spike (90)   every guest spikes 160-192 MiB at once, twice: more than the budget holds
#   idle (120)       nothing after the warm-up
#   sawtooth (90)    every guest grows 64-112 MiB and frees it in a loop, out of phase
# --minutes N gives every scenario N minutes instead. A run adds ~40 s (define, boot, warm-up,
# removal): the defaults take ~10 min per policy, ~60 min for the six.
# Policies (default all; each defines its guests as its product does):
#   static   no free page reporting, no deflate-on-OOM, no service
#   fpr      free page reporting only, no service
#   vbox     VBoxBalloonCtrl: no FPR, no deflate-on-OOM, per-VM BalloonSizeMax (75% of RAM)
#   proxmox  Proxmox VE auto-ballooning: FPR on (Proxmox turns it on), no deflate-on-OOM, a
#            per-VM minimum (VBoxKVM/Balloon/MinMB; scenario.py's anchor_min and its reason)
#   mom      oVirt MOM with vdsm's balloon policy: no FPR, no deflate-on-OOM, the same minimum
#   vboxkvm  ours: FPR and deflate-on-OOM on (the project's recommended configuration)
# The last four run `VBOX_USER_HOME=DIR vboxmanage -c URI balloonctrl --balloon-policy NAME
# --host-budget BUDGET --balloon-groups /abench-PID-` in the foreground, stopped with SIGTERM;
# the guests are in that group (VBoxKVM/Groups), so the service leaves other guests alone. A
# policy whose service (or setextradata) is not in this build is skipped with a line saying so.
# The host is emulated: every policy gets MemTotal = BUDGET (default 5/6 of the guests' sum) and
# used = the guests' QEMU resident memory; the report counts what goes over it.
#
# Output in OUT (default build/bench-autoballoon): runs/SCENARIO-sSEED-POLICY/ (scenario,
# samples.csv, console logs, conductor and service logs), plots/*.png, report.txt. --docs also
# copies the PNGs and the report to docs/bench/autoballoon/. Exit status 1 if a target is
# missed. Needs root, a libvirtd (scripts/start-libvirtd.sh), the tiny guest
# (scripts/build-tiny-guest.sh), python3-libvirt and gnuplot-nox (installed when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
LOG_TAG=bench_autoballoon
# shellcheck source=scripts/lib/ensure-pkgs.sh
. "$here/scripts/lib/ensure-pkgs.sh"
ab=$here/bench/autoballoon
# Debian's python3: python3-libvirt installs there (a python3 earlier in PATH may lack it).
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
vbm=${VBM:-$here/build/bin/vboxmanage}
uri=${LIBVIRT_URI:-qemu:///system}
all_scenarios=staggered,all-spike,idle,sawtooth
all_policies=static,fpr,vbox,proxmox,mom,vboxkvm

die() {
  echo "bench_autoballoon: $*" >&2
  exit 2
}
usage() {
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit "${1:-0}"
}

mode=run
case ${1:-} in run | cpu | report) mode=$1 && shift ;; esac
scenarios=$all_scenarios policies=$all_policies seeds=1 minutes="" guests="" memory="" budget=""
interval=0.1 out=$here/build/bench-autoballoon docs=0 verbose=()
while (($#)); do
  case $1 in
    --scenarios | --policies | --seeds | --minutes | --guests | --memory | --budget | --interval | --out)
      (($# >= 2)) || die "$1 needs a value"
      case $1 in
        --scenarios) scenarios=$2 ;;
        --policies) policies=$2 ;;
        --seeds) seeds=$2 ;;
        --minutes) minutes=$2 ;;
        --guests) guests=$2 ;;
        --memory) memory=$2 ;;
        --budget) budget=$2 ;;
        --interval) interval=$2 ;;
        --out) out=$2 ;;
      esac
      shift 2
      ;;
    --docs) docs=1 && shift ;;
    -v) verbose=(-v) && shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench_autoballoon: unknown argument '$1'" >&2 && usage 2 ;;
  esac
done
for s in ${scenarios//,/ }; do [[ ,$all_scenarios, == *,$s,* ]] || die "unknown scenario '$s' (of $all_scenarios)"; done
for p in ${policies//,/ }; do [[ ,$all_policies, == *,$p,* ]] || die "unknown policy '$p' (of $all_policies)"; done
[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--seeds: numbers separated by commas, not '$seeds'"
[[ -z $minutes || $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--minutes: a number, not '$minutes'"
for v in guests memory budget; do [[ ${!v} =~ ^[0-9]*$ ]] || die "--$v: a number, not '${!v}'"; done
[[ $interval =~ ^[0-9]*\.?[0-9]+$ ]] || die "--interval: seconds, not '$interval'"
seconds=""
[[ -z $minutes ]] || seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)
analyze=("$py" "$ab/analyze.py" --out "$out")
((docs)) && analyze+=(--docs "$here/docs/bench/autoballoon")

if [[ $mode == report ]]; then
  exec "${analyze[@]}"
fi

[[ $(id -u) == 0 ]] || die "needs root (libvirt's qemu:///system, QEMU's /proc files)"
ensure_pkgs python3-libvirt gnuplot-nox || die "cannot install python3-libvirt gnuplot-nox"
"$here/scripts/start-libvirtd.sh" --no-tcp >/dev/null
tiny_guest_image || die "no tiny guest image (scripts/build-tiny-guest.sh)"

tmp=$(mktemp -d /tmp/abench.XXXXXX) # short: control sockets' paths hold 107 bytes
prefix=abench-$$-
pids=()  # background processes of ours still to stop (sampler, service, conductor)
names=() # domains of the current run

# ---- libvirt, retried while libvirtd is being restarted by someone else's test ------------------

libvirt_answers() { timeout 10 virsh -q -c "$uri" uri >/dev/null 2>&1; }
# retry_libvirt CMD...: CMD; when it fails while libvirtd does not answer, wait (up to 2 min) for
# libvirtd and try again, three times in all.
retry_libvirt() {
  local try w
  for try in 1 2 3; do
    "$@" && return 0
    libvirt_answers && return 1
    echo "  libvirtd does not answer; waiting for it (try $try)" >&2
    for ((w = 0; w < 60; w++)); do libvirt_answers && break; sleep 2; done
  done
  return 1
}
vsh() { timeout 60 virsh -q -c "$uri" "$@"; }
running() { [[ $(vsh domstate "$1" 2>/dev/null) == running ]]; }
start_domain() { running "$1" || vsh start "$1" >/dev/null; }

stop_pid() { # stop_pid PID: SIGTERM, then SIGKILL after 10 s; only processes of ours
  local pid=$1 w
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((w = 0; w < 100; w++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
remove_guests() {
  local n
  for n in "${names[@]}"; do
    retry_libvirt vsh destroy "$n" >/dev/null 2>&1 || true
    retry_libvirt vsh undefine "$n" >/dev/null 2>&1 || true
  done
  names=()
}
cleanup() {
  local p
  for p in "${pids[@]}"; do stop_pid "$p"; done
  pids=()
  remove_guests
  # Anything of ours a killed run left behind (names carry this process's id).
  for n in $(vsh list --all --name 2>/dev/null | grep "^$prefix" || true); do
    vsh destroy "$n" >/dev/null 2>&1 || true
    vsh undefine "$n" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# has_command WORD: vboxmanage of this build has that command (its hidden command table dump).
has_command() {
  [[ -x $vbm ]] && "$vbm" __dump-cli 2>/dev/null | "$py" -c 'import json, sys
names = [c.get("name") if isinstance(c, dict) else c for c in json.load(sys.stdin).get("commands", [])]
sys.exit(0 if sys.argv[1] in names else 1)' "$1"
}
service_policy() { [[ $1 == vbox || $1 == proxmox || $1 == mom || $1 == vboxkvm ]]; }
# policy_missing POLICY: why this build cannot run POLICY (nothing when it can).
policy_missing() {
  service_policy "$1" || return 0
  has_command balloonctrl || { echo "needs \`vboxmanage balloonctrl\` (not in $vbm)"; return 0; }
  has_command setextradata || echo "needs \`vboxmanage setextradata\` for its per-VM settings (not in $vbm)"
}

# wait_logs TIMEOUT_S REGEX LOG...: until every LOG has a line matching REGEX; 1 on timeout or
# when a guest stopped running.
wait_logs() {
  local timeout=$1 re=$2 t0=$SECONDS l n
  shift 2
  while :; do
    n=0
    for l in "$@"; do grep -aqE "$re" "$l" 2>/dev/null && n=$((n + 1)); done
    ((n == $#)) && return 0
    ((SECONDS - t0 < timeout)) || return 1
    for l in "${names[@]}"; do
      running "$l" || { echo "  $l stopped running" >&2 && return 1; }
    done
    sleep 1
  done
}

# The service manages only the guests of this process: they are in its own group (VBoxKVM/Groups),
# and it runs with --balloon-groups, so other people's guests on this libvirtd are left alone and
# stay out of the emulated host's figures.
group=/$prefix

# extradata HOME VM KEY VALUE: a VM's extra data in the store at HOME.
extradata() {
  retry_libvirt env VBOX_USER_HOME="$1" "$vbm" -c "$uri" setextradata "$2" "$3" "$4" ||
    die "setextradata $2 $3 $4 failed"
}

# start_service POLICY BUDGET HOME LOG: the balloon service in the background; sets svc_pid.
start_service() {
  VBOX_USER_HOME=$3 "$vbm" -c "$uri" balloonctrl --balloon-policy "$1" --host-budget "$2" \
    --balloon-groups "$group" "${verbose[@]}" >"$4" 2>&1 &
  svc_pid=$!
  pids+=("$svc_pid")
}

# run_one SCENARIO SEED POLICY
run_one() {
  local scen=$1 seed=$2 policy=$3 rd key g rest line n home="" state="" svc_pid="" sampler_pid
  local -a popts=() warm=() gseed=() socks=() logs=() pairs=() sargs=()
  local -A sc=()
  rd=$out/runs/$scen-s$seed-$policy
  rm -rf "$rd"
  mkdir -p "$rd"
  echo "$policy" >"$rd/policy"
  sargs=("$scen" --seed "$seed" --json "$rd/scenario.json")
  [[ -z $guests ]] || sargs+=(--guests "$guests")
  [[ -z $memory ]] || sargs+=(--memory "$memory")
  [[ -z $budget ]] || sargs+=(--budget "$budget")
  [[ -z $seconds ]] || sargs+=(--seconds "$seconds")
  "$py" "$ab/scenario.py" "${sargs[@]}" >"$rd/scenario.txt"
  while read -r key g rest; do
    case $key in
      warmup) warm[g]=$rest ;;
      seed) gseed[g]=$rest ;;
      seconds | budget | anchor_min | vbox_max | cache_disk) sc[$key]=$g ;;
    esac
  done <"$rd/scenario.txt"
  n=${#warm[@]}
  echo "== $scen, seed $seed, policy $policy ($(date '+%H:%M:%S')): $rd"
  sed 's/^/   /' "$rd/scenario.txt"

  case $policy in
    fpr | proxmox) popts=(--free-page-reporting) ;;
    vboxkvm) popts=(--free-page-reporting --autodeflate) ;;
  esac
  for ((g = 0; g < n; g++)); do
    names+=("$prefix$g")
    socks+=("$tmp/$prefix$g.ctl")
    logs+=("$rd/$prefix$g.log")
    pairs+=("$prefix$g=$rd/$prefix$g.log")
    retry_libvirt define_tiny_guest "$uri" "$prefix$g" --memory "${memory:-384}" \
      --cache-disk "${sc[cache_disk]}" --disk-file "$tmp/$prefix$g.img" \
      --serial-log "$rd/$prefix$g.log" --control-socket "$tmp/$prefix$g.ctl" \
      --seed "${gseed[g]}" --load "${warm[g]}" --xml "$rd/$prefix$g.xml" "${popts[@]}" ||
      die "cannot define $prefix$g"
  done

  if service_policy "$policy"; then
    home=$tmp/home-$scen-$seed-$policy
    mkdir -p "$home"
    state=$home/vboxkvm-balloonctrl.json
    for line in "${names[@]}"; do
      extradata "$home" "$line" VBoxKVM/Groups "$group"
      key=""
      case $policy in
        vbox) key=VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax rest=${sc[vbox_max]} ;;
        proxmox | mom) key=VBoxKVM/Balloon/MinMB rest=${sc[anchor_min]} ;;
      esac
      [[ -z $key ]] || extradata "$home" "$line" "$key" "$rest"
    done
    echo "  extra data of every guest: VBoxKVM/Groups = $group${key:+, $key = $rest}"
    start_service "$policy" "${sc[budget]}" "$home" "$rd/service.log"
    echo "$svc_pid" >"$rd/service.pid"
  fi
  sargs=(--uri "$uri" --out "$rd/samples.csv" --interval "$interval")
  [[ -z $state ]] || sargs+=(--state "$state" --service-pid "$svc_pid")
  "$py" "$ab/sampler.py" "${sargs[@]}" "${pairs[@]}" 2>"$rd/sampler.txt" &
  sampler_pid=$!
  pids+=("$sampler_pid")

  for line in "${names[@]}"; do retry_libvirt start_domain "$line" || die "cannot start $line"; done
  if ! wait_logs 300 ' op=end ' "${logs[@]}"; then
    echo "  the warm-up did not end in every guest within 300 s; run abandoned" >&2
  else
    echo "  warm-up done; scenario for ${sc[seconds]} s"
    "$py" "$ab/conductor.py" --t0-file "$rd/t0" --log "$rd/events.log" --seconds "${sc[seconds]}" \
      "$rd/scenario.txt" "${socks[@]}" || echo "  conductor: not every line was sent (see $rd/events.log)" >&2
  fi
  stop_pid "$sampler_pid"
  if [[ -n $svc_pid ]]; then
    if ! kill -0 "$svc_pid" 2>/dev/null; then # it should still be running: say so in the report
      wait "$svc_pid" && line=0 || line=$?
      echo "the service exited during the run with status $line (see service.log)" | tee "$rd/service.died" >&2
    fi
    stop_pid "$svc_pid"
  fi
  pids=()
  [[ -z $state || ! -e $state ]] || cp "$state" "$rd/state.json"
  remove_guests
  rm -f "$tmp"/*.img
  sed 's/^/  /' "$rd/sampler.txt"
  "${analyze[@]}" --brief "$rd" || true
}

# ---- cpu: the service's CPU with many idle guests --------------------------------------------

run_cpu() {
  local n=${guests:-16} mem=${memory:-128} secs=${seconds:-120} rd=$out/cpu g home why
  local b=${budget:-$((n * mem * 5 / 6))} ready c0 c1 logs=()
  why=$(policy_missing vboxkvm)
  [[ -z $why ]] || die "cpu: the vboxkvm policy $why"
  rm -rf "$rd"
  mkdir -p "$rd"
  echo "cpu: $n idle guests of $mem MiB (FPR, deflate-on-OOM), budget $b MiB, the vboxkvm policy for $secs s"
  for ((g = 0; g < n; g++)); do
    names+=("$prefix$g")
    logs+=("$rd/$prefix$g.log")
    retry_libvirt define_tiny_guest "$uri" "$prefix$g" --memory "$mem" --serial-log "$rd/$prefix$g.log" \
      --free-page-reporting --autodeflate || die "cannot define $prefix$g"
  done
  home=$tmp/home-cpu
  mkdir -p "$home"
  for g in "${names[@]}"; do extradata "$home" "$g" VBoxKVM/Groups "$group"; done
  start_service vboxkvm "$b" "$home" "$rd/service.log"
  for g in "${names[@]}"; do retry_libvirt start_domain "$g" || die "cannot start $g"; done
  wait_logs 600 ' op=start ' "${logs[@]}" || die "cpu: not every guest booted within 10 min"
  sleep 10 # the boot's own burst of balloon work is over; what is measured is the steady state
  ready=$(date +%s)
  c0=$(awk '{ print $14 + $15 }' "/proc/$svc_pid/stat")
  sleep "$secs"
  c1=$(awk '{ print $14 + $15 }' "/proc/$svc_pid/stat")
  cp "$home/vboxkvm-balloonctrl.json" "$rd/state.json" 2>/dev/null || true
  awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v s="$(($(date +%s) - ready))" -v n="$n" -v m="$mem" \
    'BEGIN { printf "guests=%d\nmemory_mib=%d\nseconds=%d\ncpu_s=%.2f\ncpu_pct=%.3f\n", n, m, s, c / hz, c / hz / s * 100 }' \
    >"$rd/cpu.txt"
  stop_pid "$svc_pid"
  pids=()
  remove_guests
  cat "$rd/cpu.txt"
  "${analyze[@]}"
}

if [[ $mode == cpu ]]; then
  run_cpu
  exit
fi

# ---- run ---------------------------------------------------------------------------------------

runnable=()
for p in ${policies//,/ }; do
  why=$(policy_missing "$p")
  if [[ -n $why ]]; then
    echo "policy $p: skipped: it $why"
  else
    runnable+=("$p")
  fi
done
((${#runnable[@]})) || die "no policy can run"
nruns=0 total=0
for s in ${scenarios//,/ }; do
  for _ in ${seeds//,/ }; do
    d=${seconds:-$("$py" -c "import sys; sys.path.insert(0, '$ab'); import scenario; print(scenario.SCENARIOS['$s'])")}
    nruns=$((nruns + ${#runnable[@]}))
    total=$((total + ${#runnable[@]} * (d + 40)))
  done
done
echo "bench_autoballoon: $nruns runs (scenarios $scenarios; seeds $seeds; policies ${runnable[*]}), about $((total / 60)) min;" \
  "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r); output in $out"
for s in ${scenarios//,/ }; do
  for seed in ${seeds//,/ }; do
    for p in "${runnable[@]}"; do
      run_one "$s" "$seed" "$p"
    done
  done
done
"${analyze[@]}"
