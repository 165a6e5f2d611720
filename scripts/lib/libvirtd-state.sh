# shellcheck shell=bash disable=SC2034
# Sourced by start-libvirtd.sh and stop-libvirtd.sh: where the daemons
# started by start-libvirtd.sh are recorded, and how to recognise them.

E2E_STATE_DIR=${E2E_STATE_DIR:-/run/vboxkvm-e2e}
LIBVIRTD_MARKER=$E2E_STATE_DIR/libvirtd.started   # "PID STARTTIME" of our libvirtd
VIRTLOGD_MARKER=$E2E_STATE_DIR/virtlogd.started   # "PID STARTTIME" of our virtlogd
LIBVIRTD_PIDFILE=/run/libvirtd.pid
VIRTLOGD_PIDFILE=/run/virtlogd.pid

log() { echo "${LOG_TAG}: $*" >&2; }

# proc_starttime PID: field 22 of /proc/PID/stat (clock ticks since boot).
proc_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }          # drop "pid (comm) "
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

# pid_is NAME PID: PID is alive (not a zombie) and its comm is NAME.
# (Zombies matter: when PID 1 is not a real init, killed daemons are never
# reaped and keep their /proc entry.)
pid_is() {
    local comm stat
    [[ $2 =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$2/comm" 2>/dev/null) || return 1
    [[ $comm == "$1" ]] || return 1
    stat=$(cat "/proc/$2/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# pid_from_file FILE: prints the pid stored in a pidfile (first word).
pid_from_file() {
    local pid=""
    [[ -r $1 ]] && read -r pid _ <"$1" 2>/dev/null
    [[ $pid =~ ^[0-9]+$ ]] && echo "$pid"
}

# record_started NAME MARKER PID
record_started() {
    mkdir -p "$E2E_STATE_DIR"
    echo "$3 $(proc_starttime "$3")" >"$2"
}

# started_by_us NAME MARKER: prints the pid if the process recorded in MARKER
# is still the same live process (pid + start time match).
started_by_us() {
    local pid start
    [[ -r $2 ]] || return 1
    read -r pid start _ <"$2" || return 1
    pid_is "$1" "$pid" || return 1
    [[ $(proc_starttime "$pid") == "$start" ]] || return 1
    echo "$pid"
}

# stop_pid NAME PID [SIGNAL]: sends SIGNAL (default TERM) and waits up to 15 s,
# then SIGKILL.
stop_pid() {
    local name=$1 pid=$2 sig=${3:-TERM} i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        pid_is "$name" "$pid" || return 0
        sleep 0.1
    done
    log "$name (pid $pid) did not exit after SIG$sig, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pid_is "$name" "$pid" || return 0
        sleep 0.1
    done
    log "$name (pid $pid) is still alive"
    return 1
}
