#!/usr/bin/env bash
# modifyvm on a real, powered-off domain: the change lands in libvirt's persistent
# configuration and the store; every row of spec §2.5 on a 64-bit host; drift from virsh;
# --cpus reaching <vcpu>, and VirtualBox options vboxkvm does not manage refused.
# Runs against $LIBVIRT_URI, passed explicitly with --connect (CTest runs it locally and
# through qemu+tcp://127.0.0.1/system).
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
inactive_xml() { virsh_q dumpxml --inactive "$1"; }
xml_value() { inactive_xml "$1" | sed -n "s:.*<$2 unit='KiB'>\([0-9]*\)</$2>.*:\1:p"; }

d=$(define_guest off --memory 1024)

# The issue's example, all four options in one command.
assert_exit 0 vbm modifyvm "$d" --memory 512 --guest-memory-balloon 100 --page-fusion off --large-pages off
assert_eq "" "$OUT$ERR" "a successful modifyvm prints nothing"
assert_eq 524288 "$(xml_value "$d" memory)" "<memory>"
assert_eq 421888 "$(xml_value "$d" currentMemory)" "<currentMemory>"
assert_contains "$(inactive_xml "$d")" "<nosharepages/>"
assert_not_contains "$(inactive_xml "$d")" "<hugepages/>"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" $'memory=512\npagefusion="off"\ncpus=1\nlargepages="off"\nfreepagereporting="off"\nballoondeflateonoom="off"\nVMState="poweroff"'
assert_contains "$OUT" "GuestMemoryBalloon=100"
assert_exit 0 vbm showvminfo "$d"
assert_contains "$OUT" "Memory size:                 512MB"
assert_contains "$OUT" "Configured memory balloon:   100MB"
assert_eq "" "$ERR" "no drift warning right after modifyvm"

# Spec §2.5, RAM 1024, both spellings.
assert_exit 0 vbm modifyvm "$d" --memory 1024 --guest-memory-balloon 512
assert_eq $((512 * 1024)) "$(xml_value "$d" currentMemory)"
before=$(inactive_xml "$d")
assert_exit 1 vbm modifyvm "$d" --guestmemoryballoon=921
assert_eq "VBoxManage: error: Invalid memory balloon size: 921 MB (must be in range [0, 921] MB)" \
  "$(head -1 <<<"${ERR//vboxmanage:/VBoxManage:}")"
assert_contains "$ERR" "Details: code NS_ERROR_INVALID_ARG (0x80070057), component SessionMachine, interface IMachine"
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon:920
assert_exit 0 vbm modifyvm "$d" --guest-memory-balloon 512
for spelling in --large-pages --largepages; do
  assert_exit 1 vbm modifyvm "$d" "$spelling" maybe
  assert_contains "$ERR" $'error: Unknown option: maybe\nUsage - Change settings for a virtual machine that is stopped:'
done
for spelling in --page-fusion --pagefusion; do
  assert_exit 1 vbm modifyvm "$d" "$spelling"
  assert_contains "$ERR" "error: $spelling: RTGetOpt: Command line option needs argument."
done
assert_exit 1 vbm modifyvm "$d" --memory abc
assert_contains "$ERR" "error: Invalid argument format: "
assert_exit 1 vbm modifyvm "$d" --bogus on
assert_contains "$ERR" "error: Unknown option: --bogus"
assert_exit 2 vbm modifyvm "$d"
assert_contains "$ERR" $'error: Not enough parameters\n\nUsage'
assert_exit 1 vbm modifyvm "$d" --memory 2048 --guest-memory-balloon 99999
assert_contains "$ERR" "Invalid memory balloon size: 99999 MB (must be in range [0, 1843] MB)"
assert_eq "$before" "$(inactive_xml "$d")" "failed invocations left the domain exactly as it was"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" "memory=1024"
assert_contains "$OUT" "GuestMemoryBalloon=512"

# The balloon is MB taken: it stays when RAM changes, <currentMemory> follows.
assert_exit 0 vbm modifyvm "$d" --memory 2048
assert_eq $(((2048 - 512) * 1024)) "$(xml_value "$d" currentMemory)"
assert_exit 0 vbm modifyvm "$d" --largepages on --pagefusion on
assert_contains "$ERR" "warning: page fusion"
assert_contains "$(inactive_xml "$d")" "<hugepages/>"
assert_not_contains "$(inactive_xml "$d")" "<nosharepages/>"
assert_exit 0 vbm modifyvm "$d" --large-pages off

# By UUID, with braces and in upper case.
uuid=$(virsh_q domuuid "$d")
assert_exit 0 vbm modifyvm "{${uuid^^}}" --memory 768
assert_eq $((768 * 1024)) "$(xml_value "$d" memory)"

# Someone changes the domain with virsh: showvminfo shows libvirt's truth and warns.
virsh_q setmaxmem "$d" 1048576 --config >/dev/null
assert_exit 0 vbm showvminfo "$d"
assert_contains "$OUT" "Memory size:                 1024MB"
assert_contains "$ERR" "warning: the libvirt configuration of '$d' was changed outside vboxmanage (<memory> 786432 KiB, now 1048576 KiB"
assert_eq 1 "$(grep -c . <<<"$ERR")" "the drift warning is one line"
# The next modifyvm starts from libvirt's values and brings the store back in step.
assert_exit 0 vbm modifyvm "$d" --page-fusion off
assert_exit 0 vbm showvminfo "$d"
assert_eq "" "$ERR" "no drift after modifyvm resynchronised the store"

# --cpus (handleModifyVM MODIFYVM_CPUS -> Machine::setCPUCount) reaches <vcpu>, in the same
# call as --memory (the usual Vagrant call), and showvminfo reports it.
vcpu_of() { inactive_xml "$1" | grep -o "<vcpu[^>]*>[0-9]*</vcpu>"; }
assert_exit 0 vbm modifyvm "$d" --memory 2048 --cpus 2
assert_eq "" "$OUT$ERR" "modifyvm --memory --cpus prints nothing"
assert_eq $((2048 * 1024)) "$(xml_value "$d" memory)" "<memory> with --cpus"
assert_eq 2 "$(vcpu_of "$d" | sed 's:.*>\([0-9]*\)</vcpu>:\1:')" "<vcpu> after --cpus 2"
assert_not_contains "$(vcpu_of "$d")" "current="
assert_exit 0 vbm showvminfo "$d"
assert_contains "$OUT" "Number of CPUs:              2"
assert_eq "" "$ERR" "no drift warning after --cpus"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" $'pagefusion="off"\ncpus=2\nlargepages="off"'
if [[ $LIBVIRT_URI == qemu:///system ]]; then
  assert_contains "$OUT" "CfgFile=\"/etc/libvirt/qemu/$d.xml\""
  [[ -e /etc/libvirt/qemu/$d.xml ]] || fail "the config file showvminfo names does not exist"
fi
# Out of range, or a VirtualBox option vboxkvm does not manage: nothing changes, not even the
# valid options before it.
before=$(inactive_xml "$d")
assert_exit 1 vbm modifyvm "$d" --memory 1024 --cpus 65
assert_contains "$ERR" "error: Invalid virtual CPU count: 65 (must be in range [1, 64])"
assert_exit 1 vbm modifyvm "$d" --memory 1024 --cpus 1 --nic1 nat
assert_eq "VBoxManage: error: --nic1: this VirtualBox setting is not managed by vboxkvm (KVM guests are configured with virsh edit)" \
  "$ERR"
assert_eq "$before" "$(inactive_xml "$d")" "refused --cpus / --nic1 left the domain as it was"
# vCPUs online at start set with virsh (1 of 4) stay as many; never above the new count.
virsh_q setvcpus "$d" 4 --config --maximum >/dev/null
virsh_q setvcpus "$d" 1 --config >/dev/null
assert_exit 0 vbm modifyvm "$d" --cpus 3
assert_contains "$(vcpu_of "$d")" "current='1'>3</vcpu>"
assert_exit 0 vbm modifyvm "$d" --cpus 1
assert_eq 1 "$(vcpu_of "$d" | sed 's:.*>\([0-9]*\)</vcpu>:\1:')" "<vcpu> after --cpus 1"
assert_not_contains "$(vcpu_of "$d")" "current="

# list sees it; an unknown VM is the API error.
assert_exit 0 vbm list vms
assert_contains "$OUT" "\"$d\" {$uuid}"
assert_exit 1 vbm modifyvm "${E2E_PREFIX}nosuch" --memory 512
assert_contains "$ERR" "Could not find a registered machine named '${E2E_PREFIX}nosuch'"
