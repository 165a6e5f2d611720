#!/usr/bin/python3
"""The conductor of the automatic-ballooning benchmark (bench_autoballoon.sh): starts a
scenario's clock and sends each guest's memload lines at their planned times.

  conductor.py --t0-file FILE --log FILE --seconds D SCENARIO_TXT SOCKET...

SCENARIO_TXT is scenario.py's output; its `send G T LINE` lines go to SOCKET number G (memload's
control channel, guest/README.md) at T seconds after the start. The start (host CLOCK_MONOTONIC,
seconds) is written to --t0-file first; every send is logged as "T_HOST G T_PLANNED LINE ->
ANSWER". One thread per guest, so lines planned for the same instant go out together (the
all-spike scenario). Returns D seconds after the start; exit status 1 if a line was refused or
could not be sent (the run is then not what was planned).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
import memload_ctl  # noqa: E402 (scripts/lib: the one client of memload's control channel)


def send(path, line, timeout=15.0):
    """memload's answer to LINE on PATH, or "ERR why"."""
    try:
        return memload_ctl.send(path, line, timeout, retry_s=0.05)
    except memload_ctl.SendError as e:
        return f"ERR {e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--t0-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("scenario")
    ap.add_argument("sockets", nargs="+")
    a = ap.parse_args()
    plan = {g: [] for g in range(len(a.sockets))}
    for line in open(a.scenario):
        w = line.split()
        if w and w[0] == "send":
            plan[int(w[1])].append((float(w[2]), w[3]))
    lock, failed = threading.Lock(), []
    log = open(a.log, "w", buffering=1)
    t0 = time.monotonic()
    with open(a.t0_file, "w") as f:
        f.write(f"{t0:.3f}\n")

    def run(g):
        for t, line in sorted(plan[g]):
            time.sleep(max(0.0, t0 + t - time.monotonic()))
            sent = time.monotonic()
            answer = send(a.sockets[g], line)
            with lock:
                log.write(f"{sent:.3f} {g} {t:g} {line} -> {answer}\n")
                if not answer.startswith("OK"):
                    failed.append(f"guest {g} at {t:g} s: {line} -> {answer}")

    threads = [threading.Thread(target=run, args=(g,), daemon=True) for g in plan]
    for th in threads:
        th.start()
    time.sleep(max(0.0, t0 + a.seconds - time.monotonic()))
    for msg in failed:
        print(f"conductor: {msg}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
