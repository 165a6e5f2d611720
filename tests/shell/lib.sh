# shellcheck shell=bash
# What every tests/shell/*.sh test shares: checks, failure, skipping, a temp dir, cleanup.
# Source it first thing:
#
#     . "$(dirname "$0")/lib.sh"
#
# Exit status of a test (CTest runs each with SKIP_RETURN_CODE 77):
#   0   it ran all its checks and every one passed
#   1   a check failed, or the test could not do what it set out to (die)
#   77  skipped: the machine lacks something the test needs, and `skip` printed what. A test
#       that could not run its checks never exits 0, and never prints SKIP and passes.
#
#   T_NAME             the test's name (its file name without .sh)
#   T_TMP              a fresh temp dir: removed at exit when the test passed or skipped, kept
#                      (and named on stderr) when it failed
#   check DESC CMD...  run CMD: prints "ok: DESC" or "FAIL: DESC" (counted as a failure);
#                      returns CMD's status
#   ok MSG             one passed check, reported by hand
#   fail MSG           one failed check, reported by hand (the test goes on; it will exit 1)
#   die MSG            "FAIL: MSG" and exit 1 at once (the test cannot go on)
#   skip REASON        "SKIP: REASON" and exit 77; once a check has failed, exit 1 instead
#   need_cmd TOOL...   skip unless every TOOL is on PATH (scripts/install-deps.sh installs them)
#   need_root WHY      skip unless running as root
#   on_exit CODE       run CODE (eval'd) at exit, before T_TMP goes; the last registered runs
#                      first. Do not set an EXIT trap of your own.
#   wait_for TIMEOUT_S CMD...  run CMD every 0.1 s until it succeeds; returns 1 after TIMEOUT_S
#   finish             the last line of a test: prints "N of M check(s) failed" and returns 1,
#                      or "all M checks passed" and returns 0, which ends the script with that
#                      status. (It returns rather than exits: shellcheck 0.9 would otherwise call
#                      every function that only `check` runs unreachable, SC2317.)
#
# Running off the end of the script, or `exit 0`, with a failed check still exits 1.

T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vbm-$T_NAME.XXXXXX") || {
    echo "FAIL: cannot create a temp dir" >&2
    exit 1
}
T_FAILURES=0
T_CHECKS=0
T_ON_EXIT=()
T_PID=$$

ok() {
    T_CHECKS=$((T_CHECKS + 1))
    echo "ok: $*"
}

fail() {
    T_CHECKS=$((T_CHECKS + 1))
    T_FAILURES=$((T_FAILURES + 1))
    echo "FAIL: $*"
}

check() {
    local what=$1 rc=0
    shift
    "$@" || rc=$?
    if ((rc == 0)); then ok "$what"; else fail "$what"; fi
    return "$rc"
}

die() {
    fail "$*"
    exit 1
}

skip() {
    if ((T_FAILURES)); then
        echo "not skipping after $T_FAILURES failure(s): $*"
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}

need_cmd() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || skip "$tool not found (scripts/install-deps.sh installs it)"
    done
}

need_root() {
    [[ $(id -u) == 0 ]] || skip "needs root: $*"
}

on_exit() {
    T_ON_EXIT=("$1" "${T_ON_EXIT[@]}")
}

wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

finish() {
    if ((T_FAILURES)); then
        echo "$T_FAILURES of $T_CHECKS check(s) failed"
        return 1
    fi
    echo "all $T_CHECKS checks passed"
}

_t_on_exit() {
    local rc=$? code
    [[ $BASHPID == "$T_PID" ]] || exit "$rc"
    for code in "${T_ON_EXIT[@]}"; do
        eval "$code" || echo "warning: cleanup failed: $code" >&2
    done
    if ((rc == 0 && T_FAILURES)); then
        rc=1
    fi
    if ((rc == 0 || rc == 77)); then
        rm -rf "$T_TMP"
    else
        echo "kept the test's files in $T_TMP" >&2
    fi
    exit "$rc"
}
trap _t_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
