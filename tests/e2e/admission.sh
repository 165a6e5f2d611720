#!/usr/bin/env bash
# Admission at startvm (issue 15 point 2) on the real host: a VM above the admin's overcommit
# limit (memory.conf in the test's VBOXKVM_ETC_DIR) is refused with one line, exit 1, nothing
# started; --dry-run shows the same verdict and starts nothing; --force starts it with the
# refusal as a warning. A file others can write is refused before any VM.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
ram_mb=$(($(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024))

d=$(define_guest adm --memory 256)
# 10% of host RAM, and a guest of 11%: above the limit whatever else runs on this host.
big=$((ram_mb * 11 / 100))
assert_exit 0 vbm modifyvm "$d" --memory "$big"
printf '# e2e admission\novercommit = 10%%\n' >"$VBOXKVM_ETC_DIR/memory.conf"
chmod 644 "$VBOXKVM_ETC_DIR/memory.conf"

assert_exit 1 vbm startvm "$d"
assert_eq "" "$OUT" "nothing is started, not even the Waiting line"
assert_contains "$ERR" "VBoxManage: error: '$d' would commit "
assert_contains "$ERR" "above the overcommit limit of 10% of the host's $ram_mb MB RAM"
assert_contains "$ERR" "($VBOXKVM_ETC_DIR/memory.conf); stop a guest or give this VM less memory, or start it anyway with startvm --force"
assert_eq 1 "$(wc -l <<<"$ERR")" "one line"
assert_contains "$(virsh_q domstate "$d")" "shut off"

assert_exit 1 vbm startvm "$d" --dry-run
assert_contains "$OUT" "Admission of \"$d\" (dry run: nothing is started)"
assert_contains "$OUT" "This VM:                floor "
assert_contains "$OUT" "Verdict:                refused: '$d' would commit"
assert_contains "$(virsh_q domstate "$d")" "shut off"

assert_exit 0 vbm startvm "$d" --force
assert_contains "$OUT" "VM \"$d\" has been successfully started."
assert_contains "$ERR" "VBoxManage: warning: starting anyway (--force): '$d' would commit"
assert_contains "$(virsh_q domstate "$d")" "running"
assert_exit 0 vbm controlvm "$d" poweroff

# Within the limit: no word about admission.
assert_exit 0 vbm modifyvm "$d" --memory 128
printf 'overcommit = 10000%%\n' >"$VBOXKVM_ETC_DIR/memory.conf"
assert_exit 0 vbm startvm "$d"
assert_eq "" "$ERR"
assert_exit 0 vbm controlvm "$d" poweroff

# The admin's file only: one others can write is not trusted.
chmod 666 "$VBOXKVM_ETC_DIR/memory.conf"
assert_exit 1 vbm startvm "$d"
assert_eq "VBoxManage: error: refusing '$VBOXKVM_ETC_DIR/memory.conf': it must be a regular file of root's that only root can write (chown root: and chmod go-w it)" "$ERR"
assert_contains "$(virsh_q domstate "$d")" "shut off"
