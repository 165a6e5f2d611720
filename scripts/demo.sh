#!/usr/bin/env bash
# The main job end to end, on a fresh Debian 12 machine (as root): install, build, start
# libvirtd if none runs, boot two tiny identical guests, and show a VBoxManage-style balloon
# and page fusion (the host's KSM, steered by vboxkvm's controller) working on them; then a
# third guest running a memory workload under the automatic balloon service. Prints each
# command and its output; cleans up (KSM comes back as it was).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || printf '(exit %d)\n' "$?"; }

say "Installing and building (quiet)"
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default >/dev/null
export PATH=$PWD/build/bin:$PATH

# The e2e harness defines, boots and always removes the tiny guests (tests/e2e/common.sh).
. tests/e2e/common.sh
e2e_start_libvirtd 2>/dev/null
e2e_guest_image >/dev/null 2>&1

ksm=/sys/kernel/mm/ksm
if [[ -w $ksm/run ]]; then
  ksm_saved=$(cat $ksm/run $ksm/pages_to_scan $ksm/sleep_millisecs | tr '\n' ' ')
  e2e_on_cleanup "read -r r p s <<<'$ksm_saved'; echo \$p >$ksm/pages_to_scan; echo \$s >$ksm/sleep_millisecs; echo \$r >$ksm/run"
fi

a=$(define_guest a --memory 256)
b=$(define_guest b --memory 256)
say "Two tiny guests defined with virsh; vboxmanage sees them"
run vboxmanage list vms

say "Configure them as you would in VirtualBox (Vagrant's --memory/--cpus call included): a 96 MB balloon at start, page fusion on"
run vboxmanage modifyvm "$a" --memory 256 --cpus 1 --guest-memory-balloon 96 --page-fusion on
run vboxmanage modifyvm "$b" --memory 256 --cpus 1 --guest-memory-balloon 96 --page-fusion on
say "VirtualBox's other settings are VirtualBox's: refused by name, nothing changed"
run vboxmanage modifyvm "$a" --memory 300 --nic1 nat
run vboxmanage showvminfo "$a"
printf '$ virsh dumpxml --inactive %s | grep -i memory\n' "$a"
virsh_q dumpxml --inactive "$a" | grep -i memory

say "Page fusion on KVM is the host's KSM: let vboxkvm steer it while page-fusion guests run"
# (The demo keeps this setting in its temporary directory, not in /etc/vboxkvm.)
run vboxmanage pagefusion manage on

say "The host as VirtualBox's list hostinfo shows it (from libvirt), and what startvm's admission check would say"
run vboxmanage list hostinfo
run vboxmanage startvm "$a" --dry-run

say "Start them the VirtualBox way (startvm hands them to the page-fusion controller)"
run vboxmanage startvm "$a" --type headless
run vboxmanage startvm "$b" --type headless
wait_guest_ready "$a" 2>/dev/null
wait_guest_ready "$b" 2>/dev/null
run vboxmanage list runningvms

say "Watch them with VirtualBox's metrics (a background collector samples every second)"
e2e_on_cleanup "vboxmanage metrics disable >/dev/null 2>&1"
run vboxmanage metrics setup --period 1 --samples 5 host RAM/VMM
run vboxmanage metrics setup --period 1 --samples 5 '*' Guest/RAM/Usage

say "Ballooning: each guest started with 96 MB taken back (actual = 256 - 96 = 160 MiB)"
wait_until 30 bash -c "[ \"\$(virsh -q dommemstat '$a' | awk '\$1==\"actual\"{print \$2}')\" = 163840 ]" || true
run virsh -q dommemstat "$a"

say "Take more back from the running guest, and wait until its driver has done it"
run vboxmanage controlvm "$a" guestmemoryballoon 160 --wait 30
run vboxmanage showvminfo "$a"
sleep 1.5
run vboxmanage metrics query '*' 'Guest/RAM/Usage/Balloon,RAM/VMM/Ballooned'
sleep 2.5 # the guest reports its free memory every 2 s
printf '$ virsh dommemstat %s | grep -E "actual|unused"\n' "$a"
virsh_q dommemstat "$a" | grep -E '^(actual|unused)'

say "Give it back"
run vboxmanage controlvm "$a" guestmemoryballoon 0 --wait 30
sleep 2.5
printf '$ virsh dommemstat %s | grep -E "actual|unused"\n' "$a"
virsh_q dommemstat "$a" | grep -E '^(actual|unused)'

say "Settings VirtualBox only changes on a stopped VM are refused while it runs"
run vboxmanage modifyvm "$a" --memory 512

say "Page fusion: KSM scanned hard while the guests booted, merged their identical pages, then backed off"
if [[ -w $ksm/run ]]; then
  idle() {
    [[ $(vboxmanage pagefusion status --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["controller"].get("mode"))') == idle ]]
  }
  wait_until 60 idle || true
  run vboxmanage pagefusion status
  sleep 1.5
  run vboxmanage metrics query '*' 'RAM/VMM/Shared,Guest/RAM/Usage/Shared'
else
  echo "(this host has no writable /sys/kernel/mm/ksm, so KSM cannot be shown here)"
fi

say "Automatic ballooning: VirtualBox's balloon service (balloonctrl) with vboxkvm's policy"
# A guest that runs a memory workload on command (memload, in its initramfs), with the balloon
# set-up vboxkvm recommends: free page reporting and deflate-on-OOM.
c=$(define_guest c --memory 384 --free-page-reporting --autodeflate --control --stats-period 1)
start_guest "$c"
wait_guest_ready "$c" 2>/dev/null
# The service manages only the guests of its groups (here: c).
run vboxmanage setextradata "$c" VBoxKVM/Groups /demo
printf '$ vboxmanage balloonctrl --balloon-groups /demo &\n'
vboxmanage balloonctrl --balloon-groups /demo >"$E2E_TMP/balloonctrl.log" 2>&1 &
service=$!
e2e_on_cleanup "kill $service 2>/dev/null; wait $service 2>/dev/null || true" # gone already once the demo stopped it
actual_mb() { echo $(($(dommemstat_value "$c" actual) / 1024)); }
echo "(the guest idles: the service takes its idle memory back, a step every 2 s)"
below() { (($(actual_mb) < $1)); }
wait_until 120 below 256 || true
run vboxmanage balloonctrl status

say "The guest's workload grows past what the balloon left it: the service gives memory back first"
need=$(($(actual_mb) - 20))
printf '$ (in the guest) memload: allocate %s MB at 64 MB/s, hold 10 s, free\n' "$need"
guest_load "$c" "a${need}@64,h10,f" >/dev/null
given_back() { ! below 368; }
wait_until 60 given_back || true
run vboxmanage balloonctrl status
printf '$ (the guest console) memload and OOM lines\n'
guest_load_lines "$c" | grep -E 'op=(alloc|hold|done)' | tail -n 3
echo "OOM kills in the guest: $(guest_load_stat "$c" oom_kills)"

say "Idle again: the service takes the memory back, slowly (it cools down first)"
wait_until 150 below 320 || true
run vboxmanage balloonctrl status --json
kill "$service"
wait "$service" 2>/dev/null || true
printf '$ tail -n 4 balloonctrl.log\n'
tail -n 4 "$E2E_TMP/balloonctrl.log"

say "Suspend the VirtualBox way: savestate (libvirt's managed save), then startvm restores it"
run vboxmanage controlvm "$b" savestate
printf '$ vboxmanage showvminfo %s --machinereadable | grep -E "^(VMState|VMStateFile)="\n' "$b"
vboxmanage showvminfo "$b" --machinereadable | grep -E '^(VMState|VMStateFile)='
run vboxmanage startvm "$b" --type headless

say "Power off"
run vboxmanage controlvm "$a" poweroff
run vboxmanage controlvm "$b" acpipowerbutton
wait_until 20 bash -c "! virsh -q domstate '$b' | grep -q running" || true
run vboxmanage list runningvms
if [[ -w $ksm/run ]]; then
  say "No page-fusion guest runs any more: the controller gave KSM back as it found it"
  wait_until 15 bash -c "flock -n '$VBOXKVM_RUN_DIR/pagefusiond.lock' true" || true
  run vboxmanage pagefusion status
fi

say "Done; the guests are removed and KSM is as it was"
