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

# define_tiny_guest NAME: defines (virsh define) a 256 MiB, 1-vCPU TCG guest booting the tiny
# guest image (scripts/build-tiny-guest.sh, built on first use) with a virtio balloon that
# reports statistics every second. Needs libvirtd (scripts/start-libvirtd.sh).
define_tiny_guest() {
  local image kernel initrd
  image=$("$(dirname "${BASH_SOURCE[0]}")/../scripts/build-tiny-guest.sh")
  kernel=$(grep '/vmlinuz$' <<<"$image")
  initrd=$(grep '/initrd-balloon.img$' <<<"$image")
  virsh -q define /dev/stdin >/dev/null <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>$kernel</kernel><initrd>$initrd</initrd>
    <cmdline>console=ttyS0</cmdline></os>
  <devices><controller type='usb' model='none'/><memballoon model='virtio'><stats period='1'/></memballoon></devices>
</domain>
XML
}
