# shellcheck shell=bash
# What every benchmark here measures with, so their ratios mean the same thing.

# cpu_ms CMD... : total user+sys CPU milliseconds of running CMD $per times (bash's `time` on a
# subshell counts its children). stdout of CMD is discarded; stderr would spoil the figure, so
# check a command works before timing it.
cpu_ms() {
  local TIMEFORMAT='%U %S' t
  : "${per:?cpu_ms needs \$per, the runs per measurement}"
  t=$( { time (for ((i = 0; i < per; i++)); do "$@" >/dev/null; done); } 2>&1)
  awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%d", (a[1] + a[2]) * 1000 }'
}
