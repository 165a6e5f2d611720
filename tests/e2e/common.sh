# shellcheck shell=bash
# Shared helpers for end-to-end tests against a real libvirtd and real QEMU
# guests. Each test is tests/e2e/<scenario>.sh and starts with
#
#     . "$(dirname "$0")/common.sh"
#
# Exit status of a test: 0 pass, 1 fail, 77 skip (CTest: SKIP_RETURN_CODE 77).
#
# Set before sourcing (all optional):
#   VBM               program under test (default <repo>/build/bin/vboxmanage)
#   E2E_NEEDS_VBM=0   do not require $VBM (harness tests)
#   LIBVIRT_URI       default qemu:///system
#   VBM_GUEST_CACHE   guest image cache (default /var/cache/vboxkvm/guest)
#   E2E_KEEP=1        keep the temp dir and the domains even on success
#
# Name every libvirt domain a test creates -- also ones created through
# $VBM -- with the prefix "$E2E_PREFIX"; the EXIT trap destroys and undefines
# them all. Do not install your own EXIT trap; use e2e_on_cleanup instead.

set -Eeuo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
E2E_SCENARIO=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
E2E_PID=$$
# The scenario part never contains '-', so the pid is the third '-' field.
E2E_PREFIX="vbme2e-${E2E_SCENARIO//[^A-Za-z0-9_]/_}-${E2E_PID}-"
E2E_T0=${EPOCHREALTIME//[.,]/}
LIBVIRT_URI=${LIBVIRT_URI:-qemu:///system}
# libvirt clients that open the "default" connection (virConnectOpen(NULL))
# talk to the same daemon as the test.
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-$LIBVIRT_URI}
E2E_CLEANUP_HOOKS=()
export E2E_PREFIX E2E_SCENARIO LIBVIRT_URI

# ---- messages, failure, skip ----------------------------------------------------

# _e2e_now_ms: milliseconds since the epoch.
_e2e_now_ms() {
    local t=${EPOCHREALTIME//[.,]/}
    echo $((t / 1000))
}

# e2e_log MSG...: "[scenario +12.3s] MSG" on stderr.
e2e_log() {
    local us=${EPOCHREALTIME//[.,]/}
    local ds=$(((us - E2E_T0) / 100000))
    printf '[%s +%d.%ds] %s\n' "$E2E_SCENARIO" $((ds / 10)) $((ds % 10)) "$*" >&2
}

# _e2e_where: "file:line" of the first caller outside this file.
_e2e_where() {
    local i
    for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
        if [[ ${BASH_SOURCE[i]} != "${BASH_SOURCE[0]}" ]]; then
            echo "${BASH_SOURCE[i]}:${BASH_LINENO[i - 1]}"
            return
        fi
    done
    echo "${BASH_SOURCE[-1]}:${BASH_LINENO[-2]:-?}"
}

# fail MSG...: print "FAIL: MSG (at file:line)" and exit 1.
fail() {
    echo "FAIL: $* (at $(_e2e_where))" >&2
    exit 1
}

# skip REASON...: print "SKIP: REASON" and exit 77. Only for things that
# cannot be installed from Debian packages.
skip() {
    echo "SKIP: $*" >&2
    exit 77
}

_e2e_on_err() {
    local rc=$1 cmd=$2 i
    local sub=""
    ((BASH_SUBSHELL == 0)) || sub=" (in a subshell)"
    echo "ERROR: command failed with status $rc at ${BASH_SOURCE[1]}:${BASH_LINENO[0]}$sub: $cmd" >&2
    for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
        echo "    in ${FUNCNAME[i]}() called from ${BASH_SOURCE[i + 1]}:${BASH_LINENO[i]}" >&2
    done
}
trap '_e2e_on_err $? "$BASH_COMMAND"' ERR

# ---- assertions -------------------------------------------------------------------

# assert_eq EXPECTED ACTUAL [MSG]
assert_eq() {
    [[ $1 == "$2" ]] || fail "${3:-values differ}: expected '$1', got '$2'"
}

# assert_contains HAYSTACK NEEDLE [MSG]
assert_contains() {
    [[ $1 == *"$2"* ]] || fail "${3:-missing text}: '$2' not found in: $1"
}

# assert_not_contains HAYSTACK NEEDLE [MSG]
assert_not_contains() {
    [[ $1 != *"$2"* ]] || fail "${3:-unexpected text}: '$2' found in: $1"
}

# assert_exit CODE CMD...: run CMD, stdout -> $OUT, stderr -> $ERR, status ->
# $RC; fail unless the status is CODE.
assert_exit() {
    local want=$1
    shift
    RC=0
    "$@" >"$E2E_TMP/.out" 2>"$E2E_TMP/.err" || RC=$?
    OUT=$(cat "$E2E_TMP/.out")
    ERR=$(cat "$E2E_TMP/.err")
    if [[ $RC != "$want" ]]; then
        fail "expected exit $want, got $RC from: $*
--- stdout ---
$OUT
--- stderr ---
$ERR
--------------"
    fi
}

# wait_until TIMEOUT_S CMD...: poll CMD every 0.2 s until it succeeds;
# returns 1 on timeout. $WAITED_MS holds how long it took.
wait_until() {
    local timeout_ms=$(($1 * 1000)) start
    shift
    start=$(_e2e_now_ms)
    while :; do
        if "$@"; then
            WAITED_MS=$(($(_e2e_now_ms) - start))
            return 0
        fi
        WAITED_MS=$(($(_e2e_now_ms) - start))
        ((WAITED_MS < timeout_ms)) || return 1
        sleep 0.2
    done
}

# ---- the program under test ------------------------------------------------------

VBM=${VBM:-$E2E_REPO/build/bin/vboxmanage}
export VBM

# require_vbm: fail unless $VBM is an executable.
require_vbm() {
    [[ -x $VBM ]] || fail "program under test not found: VBM=$VBM (build it first: cmake --workflow --preset <preset>, or set VBM)"
}

# ---- temp dir, VBOX_USER_HOME, cleanup ---------------------------------------------

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/${E2E_PREFIX}XXXXXX")
mkdir -p "$E2E_TMP/vbox-home" "$E2E_TMP/domains" "$E2E_TMP/serial" "$E2E_TMP/logs"
VBOX_USER_HOME=$E2E_TMP/vbox-home
export E2E_TMP VBOX_USER_HOME
# The host's page-fusion files live in the test's directory, and vboxkvm leaves KSM alone
# (manage-ksm = no) unless a test says otherwise: KSM is one per host, and a controller
# started by one test's startvm must not steer it under the next test.
VBOXKVM_ETC_DIR=$E2E_TMP/etc
VBOXKVM_RUN_DIR=$E2E_TMP/run
export VBOXKVM_ETC_DIR VBOXKVM_RUN_DIR
mkdir -p "$VBOXKVM_ETC_DIR" "$VBOXKVM_RUN_DIR"
echo "manage-ksm = no" >"$VBOXKVM_ETC_DIR/pagefusion.conf"

# virsh_q ARGS...: virsh -q on $LIBVIRT_URI.
virsh_q() {
    virsh -q -c "${LIBVIRT_URI:-qemu:///system}" "$@"
}

# e2e_on_cleanup CMD...: run CMD (via eval) in the EXIT trap, before the
# domains are removed; last registered runs first.
e2e_on_cleanup() {
    E2E_CLEANUP_HOOKS=("$*" "${E2E_CLEANUP_HOOKS[@]}")
}

# e2e_nat_network: defines and starts a libvirt NAT network with DHCP on a free 192.168.x.0/24
# (dnsmasq), removed in the cleanup; sets E2E_NET (its name) and E2E_NET_SUBNET (x). Skips the
# test where dnsmasq is missing or libvirtd cannot set up a network's firewall rules.
e2e_nat_network() {
    local used x n subnet="" err
    command -v dnsmasq >/dev/null ||
      skip "dnsmasq is not installed: libvirt's NAT networks need it for DHCP (scripts/install-deps.sh)"

    # A /24 that no host route and no libvirt network uses.
    used=$(ip -4 route show; for n in $(virsh_q net-list --all --name); do virsh_q net-dumpxml "$n"; done)
    subnet=""
    for x in $(seq 200 254); do
      if ! grep -q "192\.168\.$x\." <<<"$used"; then subnet=$x; break; fi
    done
    [[ -n $subnet ]] || skip "no free 192.168.x.0/24 for the test network"
    E2E_NET=${E2E_PREFIX}net
    printf '%s\n' "<network><name>$E2E_NET</name><forward mode='nat'/>" \
        "<ip address='192.168.$subnet.1' netmask='255.255.255.0'>" \
        "<dhcp><range start='192.168.$subnet.100' end='192.168.$subnet.200'/></dhcp>" \
        "</ip></network>" >"$E2E_TMP/net.xml"
    virsh_q net-define "$E2E_TMP/net.xml" >/dev/null || fail "cannot define network $E2E_NET"
    e2e_on_cleanup "virsh_q net-destroy '$E2E_NET' >/dev/null 2>&1; virsh_q net-undefine '$E2E_NET' >/dev/null 2>&1"
    if ! err=$(virsh_q net-start "$E2E_NET" 2>&1 >/dev/null); then
      # libvirt's virtual networks need iptables; a libvirtd that started without it keeps
      # failing until it is restarted (which a test must not do to a shared daemon).
      if grep -qi "firewall" <<<"$err"; then
        skip "libvirtd cannot set up a virtual network's firewall rules (is iptables installed, and was libvirtd started after it?): $err"
      fi
      fail "cannot start network $E2E_NET: $err"
    fi
    # shellcheck disable=SC2034 # read by the tests
    E2E_NET_SUBNET=$subnet
}

# _e2e_remove_domain URI NAME: destroy + undefine, quietly.
_e2e_remove_domain() {
    local uri=$1 name=$2
    if [[ -r /var/log/libvirt/qemu/$name.log ]]; then
        cp "/var/log/libvirt/qemu/$name.log" "$E2E_TMP/logs/$name.qemu.log" 2>/dev/null || true
    fi
    timeout 30 virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1 || true
    timeout 30 virsh -q -c "$uri" undefine "$name" --managed-save --snapshots-metadata \
        --checkpoints-metadata --nvram >/dev/null 2>&1 ||
        timeout 30 virsh -q -c "$uri" undefine "$name" --managed-save >/dev/null 2>&1 ||
        timeout 30 virsh -q -c "$uri" undefine "$name" >/dev/null 2>&1 || true
    if timeout 30 virsh -q -c "$uri" domstate "$name" >/dev/null 2>&1; then
        echo "warning: could not remove domain $name on $uri" >&2
    fi
}

_e2e_uris() {
    {
        echo "$LIBVIRT_URI"
        cat "$E2E_TMP/uris" 2>/dev/null || true
    } | sort -u
}

# e2e_cleanup_domains: remove every domain whose name starts with $E2E_PREFIX.
e2e_cleanup_domains() {
    local uri names name
    while read -r uri; do
        names=$(timeout 30 virsh -q -c "$uri" list --all --name 2>/dev/null) || {
            echo "warning: cannot list domains on $uri; not cleaning up there" >&2
            continue
        }
        for name in $names; do
            [[ $name == "$E2E_PREFIX"* ]] && _e2e_remove_domain "$uri" "$name"
        done
    done < <(_e2e_uris)
}

# e2e_cleanup_stale [URI]: remove vbme2e-* domains left behind by test runs
# whose process is gone (the pid is the third '-' field of the name).
e2e_cleanup_stale() {
    local uri=${1:-$LIBVIRT_URI} names name pid
    names=$(timeout 30 virsh -q -c "$uri" list --all --name 2>/dev/null) || return 0
    for name in $names; do
        [[ $name =~ ^vbme2e-[A-Za-z0-9_]+-([0-9]+)- ]] || continue
        pid=${BASH_REMATCH[1]}
        if [[ $pid != "$E2E_PID" ]] && ! kill -0 "$pid" 2>/dev/null; then
            e2e_log "removing stale domain $name (pid $pid is gone)"
            _e2e_remove_domain "$uri" "$name"
        fi
    done
}

_e2e_on_exit() {
    local rc=$? hook f
    trap - ERR
    set +e
    [[ $BASHPID == "$E2E_PID" ]] || exit "$rc"
    for hook in "${E2E_CLEANUP_HOOKS[@]}"; do
        eval "$hook" || echo "warning: cleanup hook failed: $hook" >&2
    done
    if [[ ${E2E_KEEP:-0} != 1 ]]; then
        e2e_cleanup_domains
    fi
    if [[ $rc == 0 || $rc == 77 ]] && [[ ${E2E_KEEP:-0} != 1 ]]; then
        rm -rf "$E2E_TMP"
    else
        for f in "$E2E_TMP"/serial/*.log; do
            [[ -s $f ]] || continue
            echo "--- last lines of $f ---" >&2
            tail -n 15 "$f" >&2
        done
        echo "kept test files in $E2E_TMP (VBOX_USER_HOME, domain XML, serial and qemu logs)" >&2
    fi
    if [[ $rc == 0 ]]; then
        echo "PASS ($E2E_SCENARIO)" >&2
    elif [[ $rc != 77 ]]; then
        echo "FAILED ($E2E_SCENARIO, exit status $rc)" >&2
    fi
    exit "$rc"
}
trap _e2e_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${E2E_NEEDS_VBM:-1} == 1 ]]; then
    require_vbm
fi

# ---- libvirtd and the guest image ---------------------------------------------------

# e2e_start_libvirtd: make sure libvirtd answers (locally and on
# qemu+tcp://127.0.0.1/system), then remove stale domains of dead test runs.
e2e_start_libvirtd() {
    "$E2E_REPO/scripts/start-libvirtd.sh" || fail "scripts/start-libvirtd.sh failed (status $?)"
    e2e_cleanup_stale "$LIBVIRT_URI"
}

# e2e_guest_image: build or reuse the tiny guest; exports GUEST_KERNEL,
# GUEST_INITRD_BALLOON, GUEST_INITRD_NOBALLOON.
e2e_guest_image() {
    local out
    out=$("$E2E_REPO/scripts/build-tiny-guest.sh") || fail "scripts/build-tiny-guest.sh failed"
    GUEST_KERNEL=$(grep '/vmlinuz$' <<<"$out")
    GUEST_INITRD_BALLOON=$(grep '/initrd-balloon.img$' <<<"$out")
    GUEST_INITRD_NOBALLOON=$(grep '/initrd-noballoon.img$' <<<"$out")
    export GUEST_KERNEL GUEST_INITRD_BALLOON GUEST_INITRD_NOBALLOON
}

# ---- guests ---------------------------------------------------------------------------

# guest_name NAME: NAME with $E2E_PREFIX (unchanged if it already has it).
guest_name() {
    if [[ $1 == "$E2E_PREFIX"* ]]; then echo "$1"; else echo "$E2E_PREFIX$1"; fi
}

# guest_uri NAME: the URI the guest was defined on.
guest_uri() {
    local f
    f=$E2E_TMP/domains/$(guest_name "$1").uri
    if [[ -r $f ]]; then cat "$f"; else echo "$LIBVIRT_URI"; fi
}

# guest_serial_log NAME: path of the guest's console log.
guest_serial_log() {
    echo "$E2E_TMP/serial/$(guest_name "$1").log"
}

# _gvirsh NAME ARGS...: virsh on the guest's URI.
_gvirsh() {
    local uri
    uri=$(guest_uri "$1")
    shift
    virsh -q -c "$uri" "$@"
}

# define_guest NAME [--memory MIB] [--current-memory MIB] [--no-balloon-driver]
#              [--no-balloon-device] [--no-share-pages] [--uri URI]
#              [--stats-period S] [--free-page-reporting] [--autodeflate]
#              [--cache-disk MIB] [--load STEPS] [--seed N] [--share P] [--stall MS]
#              [--control] [--network NET]
# Defines a tiny TCG guest named $E2E_PREFIX$NAME (prints that name): q35,
# 1 vcpu, 256 MiB unless --memory, direct kernel boot of the tiny guest,
# console on ttyS0 logged to a file, no disk, no network (--network: a virtio NIC on
# libvirt network NET, whose address the guest asks for by DHCP), balloon statistics
# every 2 s. The other options are scripts/lib/tiny-guest.sh's: --cache-disk
# gives it a disk of MIB random bytes (a file beside its XML), --load/--seed/--share/
# --stall set memload's schedule and parameters, --control gives memload its
# control socket (guest_load).
define_guest() {
    local short=$1 mem=256 cur="" driver=1 uri=$LIBVIRT_URI opts=()
    shift
    local name
    name=$(guest_name "$short")
    while (($#)); do
        case $1 in
            --memory) mem=$2; shift 2 ;;
            --current-memory) cur=$2; shift 2 ;;
            --no-balloon-driver) driver=0; shift ;;
            --no-balloon-device | --no-share-pages | --free-page-reporting | --autodeflate)
                opts+=("$1"); shift ;;
            --stats-period | --load | --seed | --share | --stall | --network)
                (($# >= 2)) || fail "define_guest: $1 needs a value"
                opts+=("$1" "$2"); shift 2 ;;
            --cache-disk)
                (($# >= 2)) || fail "define_guest: $1 needs a value"
                opts+=(--cache-disk "$2" --disk-file "$E2E_TMP/domains/$name.disk"); shift 2 ;;
            --control) opts+=(--control-socket "$(guest_control_socket "$name")"); shift ;;
            --uri) uri=$2; shift 2 ;;
            *) fail "define_guest: unknown option $1" ;;
        esac
    done
    [[ $mem =~ ^[0-9]+$ && ${cur:-0} =~ ^[0-9]+$ ]] || fail "define_guest: memory must be in MiB"
    [[ -n ${GUEST_KERNEL:-} ]] || e2e_guest_image
    local initrd xml
    initrd=$GUEST_INITRD_BALLOON
    ((driver)) || initrd=$GUEST_INITRD_NOBALLOON
    xml=$E2E_TMP/domains/$name.xml
    echo "$uri" >"$E2E_TMP/domains/$name.uri"
    echo "$uri" >>"$E2E_TMP/uris"
    tiny_guest_define "$uri" "$name" --memory "$mem" --current-memory "${cur:-$mem}" \
        --kernel "$GUEST_KERNEL" --initrd "$initrd" --serial-log "$E2E_TMP/serial/$name.log" \
        --xml "$xml" "${opts[@]}" || fail "virsh define $xml failed"
    echo "$name"
}

# start_guest NAME: virsh start (remembers the time for the boot measurement).
start_guest() {
    local name
    name=$(guest_name "$1")
    _e2e_now_ms >"$E2E_TMP/domains/$name.started"
    _gvirsh "$name" start "$name" >/dev/null || fail "virsh start $name failed"
}

# wait_guest_ready NAME [TIMEOUT_S=120]: wait for the ready line on the
# serial console; fails early when the guest reports a failure, panics or
# stops running. Sets GUEST_BOOT_MS (time since start_guest, if known).
wait_guest_ready() {
    local name log timeout=${2:-120} start now t0 state
    name=$(guest_name "$1")
    log=$(guest_serial_log "$name")
    t0=$(_e2e_now_ms)
    start=$(cat "$E2E_TMP/domains/$name.started" 2>/dev/null || echo "$t0")
    while :; do
        if grep -q 'VBOXKVM-GUEST-READY' "$log" 2>/dev/null; then
            now=$(_e2e_now_ms)
            GUEST_BOOT_MS=$((now - start))
            e2e_log "guest $name ready after ${GUEST_BOOT_MS} ms"
            return 0
        fi
        if grep -qE 'VBOXKVM-GUEST-FAILED|Kernel panic' "$log" 2>/dev/null; then
            tail -n 20 "$log" >&2
            fail "guest $name failed to boot (see $log)"
        fi
        state=$(_gvirsh "$name" domstate "$name" 2>/dev/null || echo "unknown")
        if [[ $state != running* ]]; then
            tail -n 20 "$log" >&2 2>/dev/null || true
            fail "guest $name is '$state', not running, while waiting for it to boot"
        fi
        now=$(_e2e_now_ms)
        if ((now - t0 > timeout * 1000)); then
            tail -n 20 "$log" >&2 2>/dev/null || true
            fail "guest $name not ready within ${timeout} s (see $log)"
        fi
        sleep 0.2
    done
}

# dommemstat_value NAME KEY: one value from virsh dommemstat (empty if absent).
dommemstat_value() {
    local name
    name=$(guest_name "$1")
    _gvirsh "$name" dommemstat "$name" 2>/dev/null | awk -v k="$2" '$1 == k { print $2 }'
}

# ---- the guest's workload (guest/memload.c; guest/README.md) ----------------------------

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/tiny-guest.sh
. "$E2E_REPO/scripts/lib/tiny-guest.sh"

# guest_control_socket NAME: memload's control socket of a guest defined with --control.
guest_control_socket() {
    echo "$E2E_TMP/serial/$(guest_name "$1").ctl"
}

# guest_load_lines NAME [OP]: memload's VBM-LOAD lines on the guest's console (only op=OP),
# from the marker on, without the tty's \r.
guest_load_lines() {
    local log
    log=$(guest_serial_log "$1")
    [[ -r $log ]] || return 0
    grep -ao 'VBM-LOAD t=.*' "$log" | tr -d '\r' | if [[ -n ${2:-} ]]; then grep -E " op=$2( |\$)" || true; else cat; fi
}

# guest_load_listening NAME: memload's last start (none since it was last killed) has its
# control channel.
guest_load_listening() {
    guest_load_lines "$1" | grep -E ' op=(start|killed) ' | tail -n 1 | grep -q ' op=start .*ctl=/dev/ttyS1 '
}

# guest_load NAME LINE: send LINE (a schedule, or ?) to the guest's memload, once it listens
# (up to 60 s); prints memload's answer; fails unless it is OK.
guest_load() {
    local name
    name=$(guest_name "$1")
    wait_until 60 guest_load_listening "$name" ||
        fail "memload of $name does not listen on its control channel (see $(guest_serial_log "$name"))"
    tiny_guest_send "$(guest_control_socket "$name")" "$2" || fail "guest_load $name '$2': no OK from memload"
}

# guest_load_stats NAME: what the guest's console says of its workload, as KEY=VALUE lines
# (demand, demand_max, stalls, stall_ms, stall_max_ms, oom_kills, killed, starts, cmds, ...).
guest_load_stats() {
    tiny_guest_load_stats "$(guest_serial_log "$1")"
}

# guest_load_stat NAME KEY: one value of guest_load_stats.
guest_load_stat() {
    guest_load_stats "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}
