#!/usr/bin/env python3
"""The page-fusion benchmark's sampler: every 100 ms for SECONDS, KSM's counters and tunables,
ksmd's CPU time (/proc/PID/schedstat, ns) and the vboxkvm controller's (utime + stime), one line
each to CSV (space-separated, a header line first).

  sampler.py SECONDS CSV [RUN_DIR]     RUN_DIR: where the controller's lock file (its PID) is
"""
import os
import sys
import time

KSM = "/sys/kernel/mm/ksm/"
COLUMNS = ("t pages_sharing pages_shared ksmd_ns pages_to_scan sleep_millisecs controller_ns "
           "pages_unshared pages_volatile full_scans pages_scanned ksm_zero_pages")


def ksmd_pid():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open(f"/proc/{p}/comm").read().strip() == "ksmd":
                    return p
            except OSError:
                pass
    sys.exit("sampler: no ksmd")


def knob(name):
    try:
        return open(KSM + name).read().strip()
    except OSError:
        return "0"  # an older kernel without this file


def controller_ns(run_dir):
    if not run_dir:
        return 0
    try:
        pid = open(os.path.join(run_dir, "pagefusiond.lock")).read().strip()
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0


def main():
    seconds, path = float(sys.argv[1]), sys.argv[2]
    run_dir = sys.argv[3] if len(sys.argv) > 3 else ""
    ksmd = ksmd_pid()
    with open(path, "w") as out:
        print(COLUMNS, file=out)
        t0 = time.monotonic()
        while (t := time.monotonic() - t0) < seconds:
            ns = open(f"/proc/{ksmd}/schedstat").read().split()[0]
            row = [f"{t:.2f}", knob("pages_sharing"), knob("pages_shared"), ns, knob("pages_to_scan"),
                   knob("sleep_millisecs"), str(controller_ns(run_dir)), knob("pages_unshared"),
                   knob("pages_volatile"), knob("full_scans"), knob("pages_scanned"),
                   knob("ksm_zero_pages")]
            print(" ".join(row), file=out, flush=True)
            time.sleep(0.1)


if __name__ == "__main__":
    main()
