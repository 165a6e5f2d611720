#!/usr/bin/env bash
# The live balloon on one booted tiny guest:
#  - CPU time per command of `vboxmanage controlvm VM guestmemoryballoon N` vs
#    `virsh setmem VM SIZE --live`, run side by side;
#  - the balloon response time: from the call until the guest's `actual` is at the target.
#   bench/bench_balloon.sh [ROUNDS] [PER_ROUND]
# Needs a libvirtd (scripts/start-libvirtd.sh starts one), QEMU (TCG is enough), the tiny guest
# (scripts/build-tiny-guest.sh builds it) and build/bin/vboxmanage.
# Measures user+sys CPU of the client processes (bash's `time` on a subshell covers its
# children), alternating the two tools each round so machine noise hits both alike. Every call
# changes the balloon target (the values alternate), so neither tool gets a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vbm=${VBM:-$here/build/bin/vboxmanage}
uri=${LIBVIRT_URI:-qemu:///system}
rounds=${1:-5}
per=${2:-40}
samples=10
name=vbm-bench-balloon-$$
tmp=$(mktemp -d)
export VBOX_USER_HOME=$tmp/vbox-home
mkdir -p "$VBOX_USER_HOME"
cleanup() {
  timeout 30 virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1 || true
  timeout 30 virsh -q -c "$uri" undefine "$name" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }
actual_kib() { virsh -q -c "$uri" dommemstat "$name" | awk '$1 == "actual" { print $2 }'; }

"$here/scripts/start-libvirtd.sh" >/dev/null
image=$("$here/scripts/build-tiny-guest.sh")
kernel=$(grep '/vmlinuz$' <<<"$image")
initrd=$(grep '/initrd-balloon.img$' <<<"$image")
log=$tmp/serial.log
virsh -q -c "$uri" define /dev/stdin >/dev/null <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'><source path='$log'/><target port='0'/></serial>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>
XML
virsh -q -c "$uri" start "$name" >/dev/null
t0=$(now_ms)
until grep -q VBOXKVM-GUEST-READY "$log" 2>/dev/null; do
  (($(now_ms) - t0 < 120000)) || { echo "the guest did not boot within 120 s (see $log)" >&2; exit 1; }
  sleep 0.2
done
# The driver reports statistics from now on (otherwise controlvm warns on every call).
until [[ $(virsh -q -c "$uri" dommemstat "$name" | awk '$1 == "last_update" { print $2 }') -gt 0 ]]; do
  (($(now_ms) - t0 < 120000)) || { echo "the guest's balloon driver never reported" >&2; exit 1; }
  sleep 0.2
done
echo "guest booted in $(($(now_ms) - t0)) ms"

# Each command must work before it is timed (a failing command would time as nearly free).
"$vbm" -c "$uri" controlvm "$name" guestmemoryballoon 0 --wait 30 >/dev/null
virsh -q -c "$uri" setmem "$name" 256M --live >/dev/null

# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
# Alternate the target every call (the loop runs in a subshell, so flip is per loop).
flip=0
vbm_balloon() {
  flip=$((1 - flip))
  "$vbm" -c "$uri" controlvm "$name" guestmemoryballoon $((32 + flip * 32))
}
virsh_setmem() {
  flip=$((1 - flip))
  virsh -c "$uri" setmem "$name" $((224 - flip * 32))M --live
}

declare -A total=()
for ((r = 0; r < rounds; r++)); do
  total[vbm]=$((${total[vbm]:-0} + $(cpu_ms vbm_balloon)))
  total[virsh]=$((${total[virsh]:-0} + $(cpu_ms virsh_setmem)))
done
n=$((rounds * per))

# Response time: call -> `actual` at the target, polling dommemstat (one poll costs a virsh
# call, ~20-30 ms, which bounds the resolution). Inflate and deflate by 64 MB in turn.
"$vbm" -c "$uri" controlvm "$name" guestmemoryballoon 0 --wait 30 >/dev/null
resp=() inflate=() deflate=() waits=()
for ((s = 0; s < samples; s++)); do
  mb=$(((s + 1) % 2 * 64))
  target=$(((256 - mb) * 1024))
  t0=$(now_ms)
  "$vbm" -c "$uri" controlvm "$name" guestmemoryballoon "$mb" >/dev/null
  until [[ $(actual_kib) == "$target" ]]; do
    (($(now_ms) - t0 < 30000)) || { echo "actual did not reach $target KiB within 30 s" >&2; exit 1; }
  done
  resp+=("$(($(now_ms) - t0))")
  if ((mb)); then inflate+=("${resp[-1]}"); else deflate+=("${resp[-1]}"); fi
done
for ((s = 0; s < samples; s++)); do
  mb=$(((s + 1) % 2 * 64))
  t0=$(now_ms)
  "$vbm" -c "$uri" controlvm "$name" guestmemoryballoon "$mb" --wait 30 >/dev/null
  waits+=("$(($(now_ms) - t0))")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

printf '%-62s %11s %11s\n' "CPU time per command ($n runs each, side by side)" vboxmanage virsh
awk -v l="controlvm VM guestmemoryballoon N  vs  virsh setmem VM S --live" \
  -v a="${total[vbm]}" -v b="${total[virsh]}" -v n="$n" 'BEGIN {
    printf "%-62s %8.2f ms %8.2f ms   ratio %.2f\n", l, a / n, b / n, a / b }'
echo "target: ratio <= 0.50"
echo "balloon response, call -> actual at target (64 MB, $samples samples): median $(median "${resp[@]}") ms" \
  "(inflate $(median "${inflate[@]}") ms, deflate $(median "${deflate[@]}") ms)  [${resp[*]}]"
echo "controlvm guestmemoryballoon N --wait, wall time ($samples samples):  median $(median "${waits[@]}") ms  [${waits[*]}]"
