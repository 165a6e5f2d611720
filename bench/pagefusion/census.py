#!/usr/bin/env python3
"""What KSM can merge at most, counted from the guests' memory itself: every present page of
each guest's RAM (QEMU's anonymous mapping of the guest's size, /proc/PID/pagemap bit 63 for
"present", the bytes from /proc/PID/mem) is hashed, and every content seen c times saves
c - ceil(c / max_page_sharing) pages (KSM's pages_sharing: one KSM page per max_page_sharing
sharers). Zero-filled pages count like any other content unless use_zero_pages is on (then KSM
maps them to the zero page and counts them in ksm_zero_pages, not pages_sharing).

  census.py PID:MEM_MIB...      prints one JSON object

Reading /proc/PID/mem never unmerges or allocates a page (a read of a missing page is skipped
through pagemap). Needs root. ~1-3 s per GiB of present guest memory.
"""
import collections
import hashlib
import json
import math
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
ZERO = hashlib.blake2b(bytes(PAGE), digest_size=16).digest()


def ksm_value(name, default):
    try:
        return int(open(f"/sys/kernel/mm/ksm/{name}").read())
    except (OSError, ValueError):
        return default


def guest_ram(pid, mem_bytes):
    """(start, end) of the anonymous mapping that holds the guest's RAM: the smallest one at
    least the guest's size (QEMU maps it in one piece, a little larger for alignment)."""
    best = None
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        if len(f) > 5 or not f[1].startswith("rw"):
            continue  # file-backed or named ([heap], [stack]) mappings are not guest RAM
        start, end = (int(x, 16) for x in f[0].split("-"))
        if end - start >= mem_bytes and (best is None or end - start < best[1] - best[0]):
            best = (start, end)
    if best is None:
        sys.exit(f"census: no mapping of {mem_bytes} bytes in QEMU {pid}")
    return best


def pages_of(pid, start, end, counts):
    present = 0
    chunk = 512  # pages per read
    with open(f"/proc/{pid}/pagemap", "rb") as pm, open(f"/proc/{pid}/mem", "rb") as mem:
        for first in range(start // PAGE, end // PAGE, chunk):
            n = min(chunk, end // PAGE - first)
            pm.seek(first * 8)
            entries = struct.unpack(f"{n}Q", pm.read(n * 8))
            i = 0
            while i < n:
                if not entries[i] >> 63 & 1:
                    i += 1
                    continue
                j = i
                while j < n and entries[j] >> 63 & 1:
                    j += 1
                mem.seek((first + i) * PAGE)
                data = mem.read((j - i) * PAGE)
                for k in range(0, len(data), PAGE):
                    counts[hashlib.blake2b(data[k:k + PAGE], digest_size=16).digest()] += 1
                present += len(data) // PAGE
                i = j
    return present


def main():
    counts = collections.Counter()
    guests = []
    for arg in sys.argv[1:]:
        pid, mib = arg.split(":")
        start, end = guest_ram(pid, int(mib) * 1024 * 1024)
        guests.append({"pid": int(pid), "present_pages": pages_of(pid, start, end, counts)})
    per_ksm_page = ksm_value("max_page_sharing", 256)
    zero_pages_apart = ksm_value("use_zero_pages", 0) == 1
    mergeable = 0
    for digest, c in counts.items():
        if c > 1 and not (zero_pages_apart and digest == ZERO):
            mergeable += c - math.ceil(c / per_ksm_page)
    print(json.dumps({"guests": guests, "present_pages": sum(g["present_pages"] for g in guests),
                      "distinct": len(counts), "zero_pages": counts.get(ZERO, 0),
                      "mergeable_pages": mergeable, "max_page_sharing": per_ksm_page,
                      "use_zero_pages": zero_pages_apart}))


if __name__ == "__main__":
    main()
