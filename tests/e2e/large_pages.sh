#!/usr/bin/env bash
# Large pages as VirtualBox means them (issue 15 point 1): --large-pages on never stops a VM
# from starting. On this host's huge page pool as it is (too small for the guest), startvm
# starts it on transparent huge pages with one warning naming the pool and the sysctl; the
# definition keeps <hugepages/>; showvminfo says what the running VM got; ballooning works on
# it. With page fusion on, the warning says that instead. (large_pages_pool.sh reserves a pool.)
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

free_pages=$(($(meminfo HugePages_Free) - $(meminfo HugePages_Rsvd)))
page_kib=$(meminfo Hugepagesize)
((free_pages * page_kib < 128 * 1024)) ||
    skip "this host's huge page pool ($free_pages free pages of $page_kib KiB) could back the guest: the no-pool case cannot be shown"

d=$(define_guest lp --memory 128)
assert_exit 0 vbm modifyvm "$d" --large-pages on --page-fusion off
assert_contains "$(virsh_q dumpxml --inactive "$d")" "<hugepages/>"

# vm::choose_backing: the pool cannot back 64 pages -> transparent huge pages, one warning.
assert_exit 0 vbm startvm "$d"
assert_contains "$OUT" "VM \"$d\" has been successfully started."
needed=$(((128 * 1024 + page_kib - 1) / page_kib))
assert_eq "VBoxManage: warning: '$d' runs on transparent huge pages, not hugetlbfs: the host's huge page pool has $free_pages free $page_kib KiB pages, $needed needed (reserve them: sysctl vm.nr_hugepages=$(($(meminfo HugePages_Total) + needed - free_pages)))" "$ERR"
wait_guest_ready "$d"
assert_not_contains "$(virsh_q dumpxml "$d")" "hugepages" "the run has no <hugepages/>"
assert_contains "$(virsh_q dumpxml --inactive "$d")" "<hugepages/>" "the definition keeps it"
assert_contains "$(virsh_q dominfo "$d")" "Persistent:     yes"
assert_exit 0 vbm showvminfo "$d"
assert_contains "$OUT" $'Large Pages:                 enabled\nLarge Pages backing:         transparent huge pages'
assert_eq "" "$ERR" "no drift: the definition is what modifyvm wrote"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_contains "$OUT" $'largepages="on"\nlargepagesbacking="thp"'
# Ballooning works on transparent huge pages (it is refused only on hugetlbfs).
assert_exit 0 vbm controlvm "$d" guestmemoryballoon 32
assert_exit 0 vbm controlvm "$d" poweroff

# Page fusion on: small pages are what KSM merges, so transparent huge pages whatever the pool.
assert_exit 0 vbm modifyvm "$d" --page-fusion on
assert_exit 0 vbm startvm "$d"
assert_eq "VBoxManage: warning: '$d' runs on transparent huge pages, not hugetlbfs: page fusion is on (KSM merges no hugetlbfs page)" "$(grep -v 'side channel' <<<"$ERR")"
assert_not_contains "$(virsh_q dumpxml "$d")" "hugepages"
assert_exit 0 vbm controlvm "$d" poweroff

# Large pages off: no decision, no warning, nothing but virDomainCreate.
assert_exit 0 vbm modifyvm "$d" --large-pages off
assert_exit 0 vbm startvm "$d"
assert_eq "" "$ERR"
assert_exit 0 vbm showvminfo "$d" --machinereadable
assert_not_contains "$OUT" "largepagesbacking"
