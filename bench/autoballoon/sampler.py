#!/usr/bin/python3
"""The sampler of the automatic-ballooning benchmark (bench_autoballoon.sh): one CSV row per
running guest every --interval seconds (default 0.1) until SIGTERM.

  sampler.py --uri URI --out CSV [--state FILE] [--service-pid PID] NAME=CONSOLE_LOG...

Columns (KiB unless named otherwise; empty = not read in this row):
  t              host CLOCK_MONOTONIC, seconds (the clock conductor.py stamps its sends with)
  guest          the domain's name
  actual, unused, usable, available, disk_caches
                 virDomainMemoryStats: the balloon's current size (live, from QEMU's
                 query-balloon) and the guest's MemFree, MemAvailable, MemTotal and page cache
                 (as of the guest's last statistics report, every stats period). Polled every
                 --interval while the guest is near the guard (usable < 128 MiB) or its balloon
                 moves (actual changed, or differs from the service's target), else every --slow
                 seconds (default 0.5): each poll costs QEMU and libvirtd a monitor round trip
  rss            QEMU's resident memory (/proc/PID/statm), every row
  qemu_own       QEMU's resident memory outside the guest's RAM mapping (/proc/PID/smaps: all
                 Rss minus that of the anonymous mapping the size of the guest's memory); read
                 every 5 s per guest (it grows slowly: TCG's code buffer), carried in between
  target         the balloon target the service wrote for this guest in its state file
  log_bytes      the size of the guest's console log: the analysis finds when each console line
                 reached the host from it (to map guest times to host times)
  changes        the service's counters.changes (balloon changes so far)
  svc_cpu_s      the service's user+system CPU seconds (/proc/PID/stat)
  sampler_cpu_s  this sampler's own user+system CPU seconds
libvirtd may be restarted under it: libvirt errors are retried (reconnecting once a second);
/proc columns go on meanwhile. Exits 0 on SIGTERM/SIGINT and prints a summary line to stderr.
"""
import argparse
import json
import os
import resource
import signal
import sys
import time

import libvirt

FAST_BELOW_KIB = 128 * 1024  # usable below this: poll every --interval
SMAPS_EVERY_S = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
COLUMNS = ("t guest actual unused usable available disk_caches rss qemu_own target log_bytes "
           "changes svc_cpu_s sampler_cpu_s").split()

stop = False


def on_signal(_sig, _frame):
    global stop
    stop = True


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
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
        self.statm = None  # an open fd on /proc/PID/statm (re-read with pread: no open per row)
        self.next_pid_check = 0.0
        self.dom = None
        self.memory_kib = None
        self.next_poll = 0.0
        self.next_smaps = 0.0
        self.own = None
        self.last_actual = None

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
                        self.pid, self.own, self.next_smaps = pid, None, now
                    except OSError:
                        pass
        if self.statm is None:
            return None
        try:
            return int(os.pread(self.statm, 128, 0).split()[1]) * PAGE_KIB
        except (OSError, IndexError):  # the process is gone
            self.forget()
            return None


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
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no libvirt lines on stderr

    guests = [Guest(*g.split("=", 1)) for g in a.guests]
    for i, g in enumerate(guests):  # spread the smaps reads over the period
        g.next_smaps = i * SMAPS_EVERY_S / len(guests)
    conn, next_connect, reconnects, polls, rows = None, 0.0, 0, 0, 0
    state_mtime, targets, changes = None, {}, ""
    t_start, cpu_start = time.monotonic(), own_cpu_s()
    out = open(a.out, "w", buffering=1 << 16)
    out.write(",".join(COLUMNS) + "\n")
    tick, last_flush = time.monotonic(), 0.0
    while not stop:
        now = time.monotonic()
        if conn is None and now >= next_connect:
            try:
                conn = libvirt.open(a.uri)
                for g in guests:
                    g.dom = None
            except libvirt.libvirtError:
                conn, next_connect = None, now + 1.0
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
                    changes = st.get("counters", {}).get("changes", "")
                    state_mtime = mtime
                except (OSError, ValueError):
                    pass  # caught mid-write (should not happen with rename) or gone: next tick
        svc = proc_cpu_s(a.service_pid) if a.service_pid else None
        svc = "" if svc is None else f"{svc:.2f}"
        mine = f"{own_cpu_s() - cpu_start:.3f}"
        for g in guests:
            rss = g.rss_kib(now)
            if rss is None:
                continue
            stats = None
            target = targets.get(g.name)
            if conn is not None and now >= g.next_poll:
                try:
                    if g.dom is None:
                        g.dom = conn.lookupByName(g.name)
                        g.memory_kib = g.dom.maxMemory()
                    stats = g.dom.memoryStats()
                    polls += 1
                except libvirt.libvirtError:
                    g.dom = None
                    try:
                        alive = conn.isAlive()
                    except libvirt.libvirtError:
                        alive = False
                    if not alive:
                        try:
                            conn.close()
                        except libvirt.libvirtError:
                            pass
                        conn, next_connect, reconnects = None, now + 1.0, reconnects + 1
            if stats is not None:
                actual, usable = stats.get("actual"), stats.get("usable")
                fast = ((usable is not None and usable < FAST_BELOW_KIB)
                        or (g.last_actual is not None and actual != g.last_actual)
                        or (target is not None and actual is not None and abs(target - actual) > 1024))
                g.next_poll = now + (a.interval if fast else a.slow) - a.interval / 2
                g.last_actual = actual
            if g.memory_kib and now >= g.next_smaps:
                own = qemu_own_kib(g.pid, g.memory_kib)
                g.own = own if own is not None else g.own
                g.next_smaps = now + SMAPS_EVERY_S
            try:
                log_bytes = os.stat(g.log).st_size
            except OSError:
                log_bytes = ""

            def v(key):
                x = stats.get(key) if stats else None
                return "" if x is None else str(x)
            out.write(f"{now:.3f},{g.name},{v('actual')},{v('unused')},{v('usable')},{v('available')},"
                      f"{v('disk_caches')},{rss},{'' if g.own is None else g.own},"
                      f"{'' if target is None else target},{log_bytes},{changes},{svc},{mine}\n")
            rows += 1
        if now - last_flush >= 1.0:
            out.flush()
            last_flush = now
        tick += a.interval
        delay = tick - time.monotonic()
        if delay < 0:  # behind (the host was busy): skip the missed ticks, do not catch up
            tick, delay = time.monotonic(), 0
        time.sleep(delay)
    out.close()
    wall = time.monotonic() - t_start
    cpu = own_cpu_s() - cpu_start
    print(f"sampler: {rows} rows, {polls} libvirt polls, {reconnects} reconnects in {wall:.0f} s; "
          f"CPU {cpu:.2f} s = {cpu / max(wall, 1e-9) * 100:.2f}% of one core", file=sys.stderr)


if __name__ == "__main__":
    main()
