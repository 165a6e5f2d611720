#!/usr/bin/env bash
# CPU time per command of vboxmanage vs virsh on the same domain, run side by side.
#   bench/bench_commands.sh [ROUNDS] [PER_ROUND]
# Needs a libvirtd (scripts/start-libvirtd.sh starts one) and build/bin/vboxmanage.
# Measures user+sys CPU of the client processes (bash's `time` on a subshell covers its
# children), alternating the two tools each round so machine noise hits both alike.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vbm=${VBM:-$here/build/bin/vboxmanage}
uri=${LIBVIRT_URI:-qemu:///system}
rounds=${1:-5}
per=${2:-40}
name=vbm-bench-$$
export VBOX_USER_HOME
VBOX_USER_HOME=$(mktemp -d)
cleanup() {
  virsh -q -c "$uri" undefine "$name" >/dev/null 2>&1 || true
  rm -rf "$VBOX_USER_HOME"
}
trap cleanup EXIT

"$here/scripts/start-libvirtd.sh" >/dev/null
virsh -q -c "$uri" define /dev/stdin >/dev/null <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><memballoon model='virtio'/></devices>
</domain>
XML

# Each command must work before it is timed (a failing command would time as nearly free).
"$vbm" -c "$uri" showvminfo "$name" >/dev/null
virsh -q -c "$uri" dominfo "$name" >/dev/null

# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
# Alternate values so every modify really changes the configuration.
vbm_modify() { "$vbm" -c "$uri" modifyvm "$name" --memory $((256 + (RANDOM % 2) * 64)); }
virsh_modify() { virsh -c "$uri" setmaxmem "$name" $((256 + (RANDOM % 2) * 64))M --config; }

declare -A total=()
for ((r = 0; r < rounds; r++)); do
  total[vbm_show]=$((${total[vbm_show]:-0} + $(cpu_ms "$vbm" -c "$uri" showvminfo "$name")))
  total[virsh_show]=$((${total[virsh_show]:-0} + $(cpu_ms virsh -c "$uri" dominfo "$name")))
  total[virsh_mod]=$((${total[virsh_mod]:-0} + $(cpu_ms virsh_modify)))
  total[vbm_mod]=$((${total[vbm_mod]:-0} + $(cpu_ms vbm_modify)))
done
n=$((rounds * per))
report() {
  awk -v l="$1" -v a="${total[$2]}" -v b="${total[$3]}" -v n="$n" 'BEGIN {
    printf "%-58s %8.2f ms %8.2f ms   ratio %.2f\n", l, a / n, b / n, a / b }'
}
printf '%-58s %11s %11s\n' "CPU time per command ($n runs each, side by side)" vboxmanage virsh
report "showvminfo VM  vs  virsh dominfo VM" vbm_show virsh_show
report "modifyvm VM --memory N  vs  virsh setmaxmem VM N --config" vbm_mod virsh_mod
echo "target: ratio <= 0.50"
