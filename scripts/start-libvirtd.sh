#!/usr/bin/env bash
# Make sure a privileged libvirtd answers on qemu:///system and, unless
# --no-tcp is given, also on qemu+tcp://127.0.0.1/system (loopback only,
# no authentication -- this is for throw-away test hosts).
#
# Usage: scripts/start-libvirtd.sh [--no-tcp] [--force-restart]
#   --no-tcp         only require the local socket
#   --force-restart  also replace a libvirtd that this script did not start
#                    when it lacks TCP or hangs (kills it, starts our own)
#
# Idempotent: does nothing when everything already answers. Works without
# systemd (starts virtlogd -d and libvirtd -d --listen itself) and copes with
# daemons that were killed (stale pid/socket files). Daemons it starts are
# recorded under /run/vboxkvm-e2e so that stop-libvirtd.sh (and a later run
# of this script) only ever stop those.
#
# Exit status: 0 ok, 1 error, 3 local socket answers but TCP does not and the
# running daemon is not ours (see the message).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG="start-libvirtd"
# shellcheck source-path=SCRIPTDIR source=lib/ensure-pkgs.sh
. "$HERE/lib/ensure-pkgs.sh"
# shellcheck source-path=SCRIPTDIR source=lib/libvirtd-state.sh
. "$HERE/lib/libvirtd-state.sh"

LOCAL_URI=qemu:///system
TCP_URI=qemu+tcp://127.0.0.1/system
QEMU_CONF=/etc/libvirt/qemu.conf
LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf
START_TIMEOUT=${LIBVIRTD_START_TIMEOUT:-20}

need_tcp=1
force_restart=0
for arg in "$@"; do
    case $arg in
        --no-tcp) need_tcp=0 ;;
        --force-restart) force_restart=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
            exit 0
            ;;
        *)
            log "unknown argument: $arg"
            exit 1
            ;;
    esac
done

answers() { timeout 10 virsh -q -c "$1" uri >/dev/null 2>&1; }

all_answer() {
    answers "$LOCAL_URI" || return 1
    ((need_tcp == 0)) || answers "$TCP_URI"
}

# ---- non-root: can only check -----------------------------------------------
if ((EUID != 0)); then
    if command -v virsh >/dev/null && all_answer; then
        log "libvirtd already answers on $LOCAL_URI$( ((need_tcp)) && echo " and $TCP_URI")"
        exit 0
    fi
    log "libvirtd does not answer on $LOCAL_URI$( ((need_tcp)) && echo " / $TCP_URI"); run this script as root to start it"
    exit 1
fi

mkdir -p "$E2E_STATE_DIR"
exec 9>"$E2E_STATE_DIR/start.lock"
if ! flock -w 180 9; then
    log "could not get $E2E_STATE_DIR/start.lock within 180 s"
    exit 1
fi

ensure_pkgs libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86

# ---- users/groups: the QEMU driver refuses to load without libvirt-qemu ----
if ! getent group kvm >/dev/null; then
    groupadd -r kvm
    log "created group kvm"
fi
if ! getent group libvirt-qemu >/dev/null; then
    groupadd -r libvirt-qemu
    log "created group libvirt-qemu"
fi
if ! getent passwd libvirt-qemu >/dev/null; then
    useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -M -s /usr/sbin/nologin libvirt-qemu
    log "created user libvirt-qemu"
fi

# ---- configuration, edited idempotently ----------------------------------
conf_changed=0

# set_conf FILE KEY VALUE: make "KEY = VALUE" the only active setting of KEY.
set_conf() {
    local file=$1 key=$2 line="$2 = $3" re
    re="^[[:space:]]*${key}[[:space:]]*="
    mkdir -p "$(dirname "$file")"
    [[ -e $file ]] || : >"$file"
    if [[ $(grep -cE "$re" "$file" || true) == 1 ]] && grep -qxF "$line" "$file"; then
        return 0
    fi
    if grep -qE "$re" "$file"; then
        local tmp
        tmp=$(mktemp "$file.XXXXXX")
        LINE=$line RE=$re awk '
            $0 ~ ENVIRON["RE"] { if (!done) { print ENVIRON["LINE"]; done = 1 } ; next }
            { print }' "$file" >"$tmp"
        chmod --reference="$file" "$tmp"
        mv "$tmp" "$file"
    else
        if [[ -s $file && -n $(tail -c1 "$file") ]]; then echo >>"$file"; fi
        printf '%s\n' "$line" >>"$file"
    fi
    conf_changed=1
    log "set '$line' in $file"
}

# set_conf_default FILE KEY VALUE: only if KEY has no active setting yet.
set_conf_default() {
    grep -qE "^[[:space:]]*$2[[:space:]]*=" "$1" 2>/dev/null || set_conf "$@"
}

set_conf "$QEMU_CONF" user '"root"'
set_conf "$QEMU_CONF" group '"root"'
set_conf "$QEMU_CONF" dynamic_ownership 0
set_conf "$QEMU_CONF" remember_owner 0
set_conf "$QEMU_CONF" security_driver '"none"'
set_conf "$LIBVIRTD_CONF" listen_tcp 1
set_conf "$LIBVIRTD_CONF" listen_tls 0
set_conf "$LIBVIRTD_CONF" listen_addr '"127.0.0.1"'
set_conf "$LIBVIRTD_CONF" auth_tcp '"none"'
set_conf_default "$LIBVIRTD_CONF" log_outputs '"3:file:/var/log/libvirt/libvirtd.log"'

mkdir -p /var/log/libvirt/qemu /run/libvirt /var/lib/libvirt/qemu /var/cache/libvirt/qemu

# ---- virtlogd (QEMU's stdio/serial log handler) ---------------------------
ensure_virtlogd() {
    local pid i
    pid=$(pid_from_file "$VIRTLOGD_PIDFILE" || true)
    if [[ -n $pid ]] && pid_is virtlogd "$pid" && [[ -S /run/libvirt/virtlogd-sock ]]; then
        return 0
    fi
    if [[ -n $pid ]] && pid_is virtlogd "$pid"; then
        log "virtlogd (pid $pid) runs but has no socket; restarting it"
        stop_pid virtlogd "$pid"
    fi
    rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
    virtlogd -d 9>&-
    for ((i = 0; i < 100; i++)); do
        pid=$(pid_from_file "$VIRTLOGD_PIDFILE" || true)
        if [[ -n $pid ]] && pid_is virtlogd "$pid" && [[ -S /run/libvirt/virtlogd-sock ]]; then
            record_started virtlogd "$VIRTLOGD_MARKER" "$pid"
            log "started virtlogd (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    log "virtlogd did not come up (no /run/libvirt/virtlogd-sock after 10 s)"
    return 1
}
ensure_virtlogd

# ---- libvirtd -------------------------------------------------------------
start_libvirtd() {
    local pid i t0=$SECONDS
    # libvirtd finds hugetlbfs mounts when it starts; without one it cannot back a guest with
    # huge pages. systemd mounts /dev/hugepages (dev-hugepages.mount); without systemd, do it.
    if grep -qw hugetlbfs /proc/filesystems && ! awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
        mkdir -p /dev/hugepages
        if mount -t hugetlbfs hugetlbfs /dev/hugepages; then
            log "mounted hugetlbfs on /dev/hugepages"
        fi
    fi
    # A killed daemon leaves its sockets behind; libvirtd refuses to bind
    # over a socket file that exists, so remove them (nobody listens on them:
    # we only get here when no libvirtd process is alive).
    rm -f /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro /run/libvirt/libvirt-admin-sock
    libvirtd -d --listen 9>&-
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if all_answer; then
            pid=$(pid_from_file "$LIBVIRTD_PIDFILE" || true)
            if [[ -n $pid ]] && pid_is libvirtd "$pid"; then
                record_started libvirtd "$LIBVIRTD_MARKER" "$pid"
            fi
            log "started libvirtd -d --listen (pid ${pid:-?}); answers after $((SECONDS - t0)) s on $LOCAL_URI$( ((need_tcp)) && echo " and $TCP_URI")"
            return 0
        fi
        sleep 0.2
    done
    log "libvirtd did not answer within ${START_TIMEOUT} s; see /var/log/libvirt/libvirtd.log"
    tail -n 20 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
    return 1
}

ours=$(started_by_us libvirtd "$LIBVIRTD_MARKER" || true)
running=$(pid_from_file "$LIBVIRTD_PIDFILE" || true)
if [[ -n $running ]] && ! pid_is libvirtd "$running"; then
    running=""
fi

if answers "$LOCAL_URI"; then
    if [[ -n $ours ]] && ((conf_changed)); then
        log "configuration changed; restarting our libvirtd (pid $ours)"
        stop_pid libvirtd "$ours"
        start_libvirtd
    elif ((need_tcp)) && ! answers "$TCP_URI"; then
        if [[ -n $ours ]] || ((force_restart)); then
            pid=${ours:-$running}
            log "libvirtd${pid:+ (pid $pid)} answers locally but not on $TCP_URI; restarting it with --listen"
            if [[ -n $pid ]]; then stop_pid libvirtd "$pid"; fi
            start_libvirtd
        else
            log "a libvirtd that this script did not start answers on $LOCAL_URI but not on $TCP_URI."
            log "  Make it listen on TCP 127.0.0.1:16509 without auth (listen_tcp=1, listen_tls=0,"
            log "  listen_addr=\"127.0.0.1\", auth_tcp=\"none\" in $LIBVIRTD_CONF, and start it with --listen,"
            log "  or under systemd: systemctl enable --now libvirtd-tcp.socket), or rerun with --force-restart"
            log "  (kills it and starts our own), or with --no-tcp if you do not need TCP."
            exit 3
        fi
    else
        if ((conf_changed)); then
            log "note: configuration changed but the running libvirtd${running:+ (pid $running)} is not ours; not restarting it"
        fi
        log "libvirtd${running:+ (pid $running)} already answers${ours:+ (started by this script)}"
    fi
    exit 0
fi

# Nothing answers.
if [[ -n $running ]]; then
    # Maybe it is still starting up: give it a moment.
    for ((i = 0; i < 25; i++)); do
        if answers "$LOCAL_URI"; then break; fi
        sleep 0.2
    done
    if answers "$LOCAL_URI"; then
        log "libvirtd (pid $running) answers now; rerun to check TCP"
        exec "$0" "$@"
    fi
    if [[ -n $ours ]] || ((force_restart)); then
        log "libvirtd (pid $running) runs but does not answer; killing it"
        stop_pid libvirtd "$running"
    else
        log "a libvirtd (pid $running) that this script did not start runs but does not answer; use --force-restart to replace it"
        exit 1
    fi
fi
start_libvirtd
