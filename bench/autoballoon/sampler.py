#!/usr/bin/python3
"""The sampler of the automatic-ballooning benchmark (bench_autoballoon.sh): one CSV row per
running guest every --interval seconds (default 0.1) until SIGTERM.

  sampler.py --uri URI --out CSV [--state FILE] [--service-pid PID] NAME=CONSOLE_LOG...

Columns (KiB unless named otherwise; empty = not read for this row):
  t              host CLOCK_MONOTONIC, seconds (the clock conductor.py stamps its start with)
  guest          the domain's name
  polled_t       when the libvirt figures of this row were read (the middle of the call), or empty
  actual, unused, usable, available, disk_caches
                 virDomainMemoryStats: the balloon's current size (live, from QEMU's
                 query-balloon) and the guest's MemFree, MemAvailable, MemTotal and page cache
                 (as of the guest's last statistics report, every stats period). Each poll costs
                 QEMU and libvirtd a monitor round trip, so a guest is polled every --interval only
                 while it is near the guard with its balloon inflated (usable < 128 MiB, actual
                 below its maximum by 16+ MiB: where reactions are measured) or while its balloon
                 moves (actual changed, or differs from the service's target), else every --slow
                 seconds (default 0.5).
                 Polls run in their own thread: a slow answer (a busy QEMU) never delays the rows.
  rss            QEMU's resident memory (/proc/PID/statm), every row
  qemu_own       QEMU's resident memory outside the guest's RAM mapping (/proc/PID/smaps: all
                 Rss minus that of the anonymous mapping the size of the guest's memory), carried
                 between reads. smaps walks every page table (~10 ms for a 384 MiB guest: most of
                 this sampler's CPU), so it is read every 10 s during a QEMU's first 90 s (TCG's
                 code buffer grows from ~55 to ~110 MiB while the guest boots and warms up), every
                 60 s after that (it then grows by ~1 MiB a minute)
  target         the balloon target the service wrote for this guest in its state file
  log_bytes      the size of the guest's console log: the analysis finds when each console line
                 reached the host from it (to map guest times to host times)
  changes        the service's counters.changes (balloon changes so far)
  svc_cpu_s      the service's user+system CPU seconds (/proc/PID/stat)
  sampler_cpu_s  this sampler's own user+system CPU seconds (both threads)
libvirtd may be restarted under it: libvirt errors are retried (reconnecting once a second);
the /proc columns go on meanwhile. Exits 0 on SIGTERM/SIGINT, with a summary line on stderr.
"""
import argparse
import collections
import json
import os
import resource
import signal
import sys
import threading
import time

import libvirt

FAST_BELOW_KIB = 128 * 1024  # usable below this: poll every --interval
SMAPS_YOUNG_S, SMAPS_YOUNG_EVERY_S, SMAPS_EVERY_S = 90.0, 10.0, 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
COLUMNS = ("t guest polled_t actual unused usable available disk_caches rss qemu_own target "
           "log_bytes changes svc_cpu_s sampler_cpu_s").split()
STATS = ("actual", "unused", "usable", "available", "disk_caches")

stop = threading.Event()


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)  # the whole process: both threads
    return r.ru_utime + r.ru_stime


def proc_cpu_s(pid):
    text = read(f"/proc/{pid}/stat")
    if text is None:
        return None
    f = text.rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK  # utime, stime


def qemu_own_kib(pid, memory_kib):
    """Rss outside the guest-RAM mapping: the anonymous mapping whose size is nearest to the
    guest's memory (QEMU maps guest RAM as one anonymous region of exactly that size)."""
    text = read(f"/proc/{pid}/smaps")
    if text is None:
        return None
    total, best, size, anon = 0, None, 0, False
    for line in text.split("\n"):
        if line[:4] == "Rss:":
            rss = int(line.split()[1])
            total += rss
            if anon and size >= memory_kib * 0.9:
                if best is None or abs(size - memory_kib) < best[0]:
                    best = (abs(size - memory_kib), rss)
        elif line and line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            size = (hi - lo) // 1024
            anon = len(parts) == 5 and parts[4] == "0"  # no path, inode 0
    return None if best is None else total - best[1]


class Guest:
    def __init__(self, name, log):
        self.name, self.log = name, log
        self.pid = None
        self.born = 0.0  # when this QEMU was first seen
        self.statm = None  # an open fd on /proc/PID/statm (re-read with pread: no open per row)
        self.next_pid_check = 0.0
        self.next_smaps = 0.0
        self.own = None
        self.memory_kib = None  # set by the poll thread (libvirt's maximum)
        self.fresh = collections.deque()  # (polled_t, stats) from the poll thread, not written yet
        self.target = None  # the service's target (main thread), read by the poll thread

    def forget(self):
        if self.statm is not None:
            os.close(self.statm)
        self.pid = self.statm = None

    def rss_kib(self, now):
        """QEMU's resident memory, None while it does not run. The PID file is read again once a
        second (a guest restarted under the same name gets a new QEMU)."""
        if now >= self.next_pid_check:
            self.next_pid_check = now + 1.0
            text = read(f"/run/libvirt/qemu/{self.name}.pid")
            pid = int(text) if text and text.strip().isdigit() else None
            if pid != self.pid:
                self.forget()
                if pid is not None:
                    try:
                        self.statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
                        self.pid, self.own, self.born, self.next_smaps = pid, None, now, now
                    except OSError:
                        pass
        if self.statm is None:
            return None
        try:
            return int(os.pread(self.statm, 128, 0).split()[1]) * PAGE_KIB
        except (OSError, IndexError):  # the process is gone
            self.forget()
            return None

    def smaps_due(self, now):
        if self.pid is None or not self.memory_kib or now < self.next_smaps:
            return False
        young = now - self.born < SMAPS_YOUNG_S
        self.next_smaps = now + (SMAPS_YOUNG_EVERY_S if young else SMAPS_EVERY_S)
        return True


class Poller(threading.Thread):
    """libvirt's figures of each guest when due (see the module's doc), handed to the main
    thread through Guest.fresh."""

    def __init__(self, uri, guests, interval, slow):
        super().__init__(daemon=True)
        self.uri, self.guests, self.interval, self.slow = uri, guests, interval, slow
        self.polls = self.reconnects = 0

    def run(self):
        conn, doms, due, last = None, {}, {g.name: 0.0 for g in self.guests}, {}
        while not stop.is_set():
            now = time.monotonic()
            if conn is None:
                try:
                    conn, doms = libvirt.open(self.uri), {}
                except libvirt.libvirtError:
                    stop.wait(1.0)
                    continue
            for g in self.guests:
                if due[g.name] > now or g.pid is None:
                    continue
                try:
                    if g.name not in doms:
                        doms[g.name] = conn.lookupByName(g.name)
                        g.memory_kib = doms[g.name].maxMemory()
                    t1 = time.monotonic()
                    stats = doms[g.name].memoryStats()
                    t2 = time.monotonic()
                except libvirt.libvirtError:
                    doms.pop(g.name, None)
                    due[g.name] = now + self.slow
                    try:
                        alive = conn.isAlive()
                    except libvirt.libvirtError:
                        alive = False
                    if not alive:
                        try:
                            conn.close()
                        except libvirt.libvirtError:
                            pass
                        conn = None
                        self.reconnects += 1
                        stop.wait(1.0)
                        break
                    continue
                self.polls += 1
                g.fresh.append(((t1 + t2) / 2, stats))
                actual, usable, target = stats.get("actual"), stats.get("usable"), g.target
                inflated = actual is not None and g.memory_kib and actual < g.memory_kib - 16 * 1024
                fast = ((inflated and usable is not None and usable < FAST_BELOW_KIB)
                        or (g.name in last and actual != last[g.name])
                        or (target is not None and actual is not None and abs(target - actual) > 1024))
                last[g.name] = actual
                due[g.name] = t1 + (self.interval if fast else self.slow)
            wait = min(due.values()) - time.monotonic()
            stop.wait(min(max(wait, 0.01), self.slow))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uri", default="qemu:///system")
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--slow", type=float, default=0.5)
    ap.add_argument("--state", help="the service's state file (vboxkvm-balloonctrl.json)")
    ap.add_argument("--service-pid", type=int)
    ap.add_argument("guests", nargs="+", metavar="NAME=CONSOLE_LOG")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no libvirt lines on stderr

    guests = [Guest(*g.split("=", 1)) for g in a.guests]
    poller = Poller(a.uri, guests, a.interval, a.slow)
    poller.start()
    rows, state_mtime, changes = 0, None, ""
    t_start, cpu_start = time.monotonic(), own_cpu_s()
    out = open(a.out, "w", buffering=1 << 16)
    out.write(",".join(COLUMNS) + "\n")
    tick, last_flush = time.monotonic(), 0.0
    while not stop.is_set():
        now = time.monotonic()
        if a.state:
            try:
                mtime = os.stat(a.state).st_mtime_ns
            except OSError:
                mtime = None
            if mtime is not None and mtime != state_mtime:
                try:
                    with open(a.state) as f:
                        st = json.load(f)
                    targets = {x.get("name"): x.get("target_kib") for x in st.get("guests", [])}
                    for g in guests:
                        g.target = targets.get(g.name)
                    changes = st.get("counters", {}).get("changes", "")
                    state_mtime = mtime
                except (OSError, ValueError, AttributeError):
                    pass  # caught mid-write or gone: the next tick
        svc = proc_cpu_s(a.service_pid) if a.service_pid else None
        svc = "" if svc is None else f"{svc:.2f}"
        mine = f"{own_cpu_s() - cpu_start:.3f}"
        for g in guests:
            rss = g.rss_kib(now)
            if rss is None:
                continue
            if g.smaps_due(now):
                own = qemu_own_kib(g.pid, g.memory_kib)
                g.own = own if own is not None else g.own
            try:
                log_bytes = os.stat(g.log).st_size
            except OSError:
                log_bytes = ""
            fresh = None
            while g.fresh:  # deque pops are atomic; between two rows there is at most one poll
                fresh = g.fresh.popleft()
            if fresh:
                polled = f"{fresh[0]:.3f}," + ",".join(
                    "" if fresh[1].get(k) is None else str(fresh[1][k]) for k in STATS)
            else:
                polled = ",,,,,"
            out.write(f"{now:.3f},{g.name},{polled},{rss},{'' if g.own is None else g.own},"
                      f"{'' if g.target is None else g.target},{log_bytes},{changes},{svc},{mine}\n")
            rows += 1
        if now - last_flush >= 1.0:
            out.flush()
            last_flush = now
        tick += a.interval
        delay = tick - time.monotonic()
        if delay < 0:  # behind (the host was busy): skip the missed ticks, do not catch up
            tick, delay = time.monotonic(), 0
        stop.wait(delay)
    out.close()
    wall = time.monotonic() - t_start
    cpu = own_cpu_s() - cpu_start
    print(f"sampler: {rows} rows, {poller.polls} libvirt polls, {poller.reconnects} reconnects in "
          f"{wall:.0f} s; CPU {cpu:.2f} s = {cpu / max(wall, 1e-9) * 100:.2f}% of one core",
          file=sys.stderr)


if __name__ == "__main__":
    main()
