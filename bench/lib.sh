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

# shellcheck source-path=SCRIPTDIR source=../scripts/lib/tiny-guest.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/tiny-guest.sh"

# define_tiny_guest URI NAME [OPTION...]: defines on URI a 256 MiB, 1-vCPU TCG guest booting the
# tiny guest image (scripts/build-tiny-guest.sh, built on first use) with a virtio balloon that
# reports statistics every second. OPTIONs are tiny_guest_define's (scripts/lib/tiny-guest.sh:
# --memory, --load, --seed, --serial-log, --control-socket, ...). Needs libvirtd
# (scripts/start-libvirtd.sh).
define_tiny_guest() {
  local uri=$1 name=$2
  shift 2
  tiny_guest_define "$uri" "$name" --stats-period 1 "$@"
}
