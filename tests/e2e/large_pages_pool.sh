#!/usr/bin/env bash
# Large pages with a huge page pool the test reserves (vm.nr_hugepages, put back as found on
# exit): startvm backs the guest with hugetlbfs, showvminfo says so, and ballooning is refused
# because it cannot work there. Where libvirtd cannot use hugetlbfs (it found no hugetlbfs
# mount when it started), the guest starts anyway on transparent huge pages with libvirt's
# reason in the warning, and the hugetlbfs half is a skip.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

[[ -w /proc/sys/vm/nr_hugepages ]] || skip "cannot reserve huge pages (/proc/sys/vm/nr_hugepages is not writable)"
old=$(cat /proc/sys/vm/nr_hugepages)
e2e_on_cleanup "echo $old >/proc/sys/vm/nr_hugepages"
page_kib=$(meminfo Hugepagesize)
want=$((old + (128 * 1024 + page_kib - 1) / page_kib + 4))
echo "$want" >/proc/sys/vm/nr_hugepages
(($(meminfo HugePages_Free) - $(meminfo HugePages_Rsvd) >= 128 * 1024 / page_kib)) ||
    skip "the kernel reserved only $(meminfo HugePages_Free) of $want huge pages (memory too fragmented)"
e2e_log "reserved a pool of $want pages of $page_kib KiB (was $old)"

d=$(define_guest lp --memory 128)
assert_exit 0 vbm modifyvm "$d" --large-pages on --page-fusion off
assert_exit 0 vbm startvm "$d"
assert_contains "$OUT" "VM \"$d\" has been successfully started."
warning=$ERR
if [[ $ERR == *"libvirt could not back it with huge pages"* ]]; then
    # vm::start_machine's fallback: libvirt refused hugetlbfs, the guest runs all the same.
    assert_contains "$ERR" "VBoxManage: warning: '$d' runs on transparent huge pages, not hugetlbfs: libvirt could not back it with huge pages (failed to start '$d': "
    assert_not_contains "$(virsh_q dumpxml "$d")" "hugepages"
    assert_exit 0 vbm showvminfo "$d" --machinereadable
    assert_contains "$OUT" 'largepagesbacking="thp"'
    e2e_log "$warning"
    skip "libvirtd cannot use hugetlbfs here (see the warning above): the fallback works, hugetlbfs backing itself is not shown"
fi
assert_eq "" "$ERR" "hugetlbfs: no warning"
assert_contains "$(virsh_q dumpxml "$d")" "<hugepages/>"
wait_guest_ready "$d"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" 'largepagesbacking="hugetlbfs"'
assert_exit 1 vbm controlvm "$d" guestmemoryballoon 32
assert_contains "$ERR" "Memory ballooning does not work with large pages enabled"
