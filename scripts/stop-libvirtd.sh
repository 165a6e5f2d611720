#!/usr/bin/env bash
# Stop the libvirtd that scripts/start-libvirtd.sh started (and nothing else).
#
# Usage: scripts/stop-libvirtd.sh [--kill] [--virtlogd]
#   --kill      SIGKILL instead of SIGTERM: simulates a crash, leaves the
#               stale pid and socket files behind (for fault tests)
#   --virtlogd  also stop the virtlogd that start-libvirtd.sh started
#
# Running QEMU guests are not touched; a restarted libvirtd reconnects to them.
# Exit status 0 also when there was nothing to stop.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG="stop-libvirtd"
# shellcheck source-path=SCRIPTDIR source=lib/libvirtd-state.sh
. "$HERE/lib/libvirtd-state.sh"

sig=TERM
with_virtlogd=0
for arg in "$@"; do
    case $arg in
        --kill) sig=KILL ;;
        --virtlogd) with_virtlogd=1 ;;
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

# stop NAME MARKER
stop() {
    local pid
    if ! pid=$(started_by_us "$1" "$2"); then
        log "no $1 started by start-libvirtd.sh is running; nothing to do"
        rm -f "$2"
        return 0
    fi
    stop_pid "$1" "$pid" "$sig"
    rm -f "$2"
    log "stopped $1 (pid $pid, SIG$sig)"
}

stop libvirtd "$LIBVIRTD_MARKER"
if ((with_virtlogd)); then
    stop virtlogd "$VIRTLOGD_MARKER"
fi
