#!/usr/bin/env python3
"""The page-fusion benchmark's analysis (bench_pagefusion.sh): per configuration (OUT/GxT/:
G guests, T MiB touched each) and policy, from the sampler's CSV and the census, a table of
figures, vboxkvm's ratios against stock KSM and the targets met or missed, and one gnuplot PNG
per configuration (pages_sharing and ksmd's CPU over time, one line per policy).

  analyze.py --out OUT [--docs DIR] POLICY...

The report goes to stdout and OUT/report.txt, the PNGs to OUT/ (and with --docs, both to DIR).
Exit status 1 if a target was checked and missed.

Figures:
  plateau     median pages_sharing over the run's last 30 s
  census      what KSM could merge at most: census.py over the guests' memory at the run's end
  workload    the workload's part, known in advance: (guests - 1) x shared pages of one guest
  t90         seconds from `startvm` until pages_sharing first reaches 90% of the plateau
  cpu600      ksmd CPU-seconds over the first 600 s (the whole run if shorter)
  cpu         ksmd CPU-seconds over the whole run
  after       ksmd's CPU after convergence: % of one core over the run's last 120 s
  ctl         the vboxkvm controller process's own CPU-seconds over the run
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

COLOURS = {"stock": "#7f7f7f", "ksmtuned": "#ff7f0e", "advisor": "#9467bd", "vboxkvm": "#1f77b4"}


def shared_pages(touch_mib, share, page_size):
    """memload's shared pages in one guest: page k is shared when k % 100 < share."""
    n = touch_mib * 1024 * 1024 // page_size
    return n // 100 * share + min(n % 100, share)


def load(dirpath, policy):
    try:
        lines = open(os.path.join(dirpath, f"{policy}.csv")).read().split("\n")
    except FileNotFoundError:
        return None
    head = lines[0].split()
    rows = [dict(zip(head, map(float, ln.split()))) for ln in lines[1:] if ln.strip()]
    if len(rows) < 10:
        return None
    t = [r["t"] for r in rows]
    sharing = [r["pages_sharing"] for r in rows]
    ns = [r["ksmd_ns"] for r in rows]
    end = t[-1]
    plateau = statistics.median([s for tt, s in zip(t, sharing) if tt >= end - 30])
    t90 = next((tt for tt, s in zip(t, sharing) if plateau > 0 and s >= 0.9 * plateau), float("nan"))
    i600 = next((i for i, tt in enumerate(t) if tt >= 600), len(t) - 1)
    i120 = next(i for i, tt in enumerate(t) if tt >= end - 120)
    census = None
    try:
        census = json.load(open(os.path.join(dirpath, f"{policy}.census.json")))["mergeable_pages"]
    except (OSError, ValueError, KeyError):
        pass
    return dict(rows=rows, plateau=plateau, t90=t90, cpu600=(ns[i600] - ns[0]) / 1e9,
                cpu=(ns[-1] - ns[0]) / 1e9,
                after=(ns[-1] - ns[i120]) / 1e9 / max(end - t[i120], 1e-9) * 100,
                ctl=(rows[-1]["controller_ns"] - rows[0]["controller_ns"]) / 1e9, census=census,
                seconds=end)


def q(path):
    return "'" + path.replace("'", "''") + "'"


def plot(dirpath, name, cfg, runs, workload, census, png):
    """pages_sharing in MiB saved (top) and ksmd's CPU in % of a core over 5 s (bottom)."""
    mib = cfg["page_size"] / 2**20
    sharing, cpu = [], []
    for p, r in runs.items():
        dat = os.path.join(dirpath, f"{p}.plot.dat")
        with open(dat, "w") as f:
            rows = r["rows"]
            j = 0
            for row in rows:
                while rows[j]["t"] < row["t"] - 5:
                    j += 1
                dt = row["t"] - rows[j]["t"]
                c = (row["ksmd_ns"] - rows[j]["ksmd_ns"]) / 1e9 / dt * 100 if dt > 0 else 0
                f.write(f"{row['t']:.2f} {row['pages_sharing'] * mib:.2f} {c:.3f}\n")
        style = f"with lines lw 2 lc rgb '{COLOURS.get(p, 'black')}' title '{p}'"
        sharing.append(f"{q(dat)} using 1:2 {style}")
        cpu.append(f"{q(dat)} using 1:3 {style}")
    if workload:
        sharing.append(f"{workload * mib:.2f} with lines dt 2 lc rgb '#2ca02c' title 'workload (known in advance)'")
    if census:
        sharing.append(f"{census * mib:.2f} with lines dt 3 lc rgb '#d62728' title 'census (all that can merge)'")
    sc = ["set terminal pngcairo size 1100,700 font ',9' noenhanced", f"set output {q(png)}",
          "set multiplot layout 2,1", "set grid", "set key outside right top vertical", "set rmargin 30",
          f"set xrange [0:{max(r['seconds'] for r in runs.values()):.0f}]",
          "set title " + q(f"{name}: {cfg['guests']} guests x {cfg['touch_mib']} MiB touched "
                           f"({cfg['share']}% shared, filled {cfg['fill_at']} s after boot): "
                           "memory saved (pages_sharing)"),
          "set ylabel 'MiB'", "set yrange [0:*]", "plot " + ", ".join(sharing),
          "set title 'ksmd CPU, % of one core (5 s average); x: seconds from startvm'",
          "set ylabel '%'", "set logscale y", "set yrange [0.01:*]", "plot " + ", ".join(cpu),
          "unset multiplot"]
    p = subprocess.run(["gnuplot"], input="\n".join(sc) + "\n", text=True, capture_output=True)
    if p.returncode != 0:
        print(f"analyze: gnuplot failed for {png}: {p.stderr.strip()[:400]}", file=sys.stderr)
        return None
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs")
    ap.add_argument("policies", nargs="+")
    a = ap.parse_args()
    lines, pngs, ok = [], [], True
    say = lines.append
    configs = sorted((d for d in os.listdir(a.out) if os.path.exists(os.path.join(a.out, d, "config"))),
                     key=lambda d: (int(d.split("x")[1]), int(d.split("x")[0])))
    for name in configs:
        dirpath = os.path.join(a.out, name)
        cfg = {k: int(v) for k, v in (ln.split("=") for ln in open(os.path.join(dirpath, "config")).read().split())}
        runs = {p: r for p in a.policies if (r := load(dirpath, p))}
        if not runs:
            continue
        workload = (cfg["guests"] - 1) * shared_pages(cfg["touch_mib"], cfg["share"], cfg["page_size"])
        censuses = [r["census"] for r in runs.values() if r["census"]]
        census = statistics.median(censuses) if censuses else None
        say("")
        say(f"{name}: {cfg['guests']} guests x {cfg['touch_mib']} MiB touched, {cfg['share']}% shared, "
            f"{cfg['seconds']} s per policy")
        say(f"  workload's mergeable pages (known in advance): {workload}"
            + (f"; census of the guests' memory (median of the runs): {census:.0f}" if census else ""))
        say(f"  {'policy':10} {'plateau':>9} {'/census':>8} {'t to 90%':>9} {'CPU 0-600s':>11} "
            f"{'CPU run':>8} {'after conv.':>12} {'controller':>11}")
        for p, r in runs.items():
            rel = f"{r['plateau'] / r['census']:.3f}" if r["census"] else "-"
            say(f"  {p:10} {r['plateau']:9.0f} {rel:>8} {r['t90']:8.1f}s {r['cpu600']:10.2f}s "
                f"{r['cpu']:7.2f}s {r['after']:11.3f}% {r['ctl']:10.2f}s")
        if "stock" in runs and "vboxkvm" in runs:
            s, v = runs["stock"], runs["vboxkvm"]
            say("  vboxkvm against stock: time to 90% "
                f"{v['t90'] / s['t90']:.3f}x, CPU 0-600 s {v['cpu600'] / s['cpu600']:.3f}x, "
                f"plateau {v['plateau'] / max(s['plateau'], 1):.3f}x")
            checks = [("time to 90% <= 1/4 of stock's", v["t90"] <= s["t90"] / 4),
                      ("ksmd CPU over the first 600 s <= 1/2 of stock's", v["cpu600"] <= s["cpu600"] / 2),
                      ("after convergence <= 0.2% of one core", v["after"] <= 0.2),
                      ("plateau >= 98% of stock's", v["plateau"] >= 0.98 * s["plateau"])]
            if v["census"]:
                checks.append(("plateau within 5% of the census", abs(v["plateau"] / v["census"] - 1) <= 0.05))
            if s["seconds"] < 600:
                say("  (a run shorter than 600 s: the CPU target is judged over the whole run)")
            for what, good in checks:
                say(f"    {'met' if good else 'MISSED'}: {what}")
                ok = ok and good
        png = plot(dirpath, name, cfg, runs, workload, census, os.path.join(a.out, f"pagefusion-{name}.png"))
        if png:
            pngs.append(png)
    text = "\n".join(lines) + "\n\n" + __doc__[__doc__.index("Figures:"):]
    print(text)
    open(os.path.join(a.out, "report.txt"), "w").write(text)
    if a.docs:
        os.makedirs(a.docs, exist_ok=True)
        shutil.copy(os.path.join(a.out, "report.txt"), a.docs)
        for png in pngs:
            shutil.copy(png, a.docs)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
