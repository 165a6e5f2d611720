#!/usr/bin/python3
"""Scenario and schedule generator of the automatic-ballooning benchmark (bench_autoballoon.sh).

For one scenario and seed it prints, as "KEY VALUE..." lines the harness reads (and '#' lines
for the run log), everything the guests will do:

  warmup G STEPS       guest G's memload schedule on its kernel command line (vbm.load): the
                       warm-up every scenario starts with -- touch most of the guest's memory
                       once and free it, then read part of the disk into the page cache, as a
                       guest that has run a while (clean page cache a balloon can take back and
                       free page reporting cannot)
  seed G N             guest G's vbm.seed (page contents)
  send G T LINE        at T seconds after the scenario's start, the harness (conductor.py) sends
                       LINE to guest G's control channel; memload replaces its schedule with it
  seconds D            the scenario's length after the warm-up
  budget MIB           the emulated host's memory (MemTotal), the same for every policy
  anchor_min MIB       the per-VM minimum the Proxmox and MOM runs get (VBoxKVM/Balloon/MinMB)
  vbox_max MIB         VBoxBalloonCtrl's per-VM BalloonSizeMax (the balloon it may inflate to)
  cache_disk MIB       the size of each guest's cache disk (random bytes: real page cache)

The schedules depend only on (scenario, seed, guests, memory, budget, seconds): every policy of
a run sees the same ones. With --json FILE the same is written as JSON for the analysis.

Scenarios (spikes are `f,aN@R,hS,f`: start from nothing, allocate N MiB at R MiB/s, hold S s,
free; they are sent at planned times, so one guest's slow allocation never shifts another's):
  staggered  feasible: one guest spikes at a time, round robin in a shuffled order, 64-192 MiB
             at 32-256 MiB/s, held 20-90 s (20 + an exponential of mean 8 s: most are short),
             6-10 s of quiet between spikes; every spike fits the budget's headroom
  all-spike  infeasible: every guest spikes at the same instant (160-192 MiB at 64-128 MiB/s,
             held 20-30 s), in rounds 10-15 s apart; their sum exceeds the headroom
  idle       the warm-up, then nothing: what each policy gets back from idle guests
  sawtooth   feasible: each guest repeats grow-and-free (`aA@R,hH,f,sS,loop`, 64-112 MiB at
             32-64 MiB/s, a period of 20-32 s) from its own phase; the amplitudes' sum fits the
             headroom, so even all guests at their peak together fit
"""
import argparse
import json
import random
import sys

# ---- The emulated host, from measurements on this kind of host (TCG, QEMU 7.2, the tiny guest
# of scripts/build-tiny-guest.sh, kernel 6.1) -------------------------------------------------
# QEMU's own resident memory beside the guest's RAM (TCG's code buffer, devices, libraries):
# 100-110 MiB per guest (/proc/PID/smaps outside the guest-RAM mapping, 384 MiB guests).
QEMU_OVERHEAD_MIB = 105
# What the guest holds however idle: ~40 MiB the kernel reserves at boot (MemTotal is 344 MiB of
# 384) plus ~27 MiB of userland, slab and the initramfs (MemTotal - MemFree - Cached).
GUEST_BASE_MIB = 67
# Inside the guest, above that: watermarks, memload's own pages, rounding.
SLACK_MIB = 16
# Free memory the host never gets back from an idle guest with free page reporting: free blocks
# smaller than the 2 MiB it reports (measured ~29 MiB: guest RAM resident - (MemTotal - MemFree)).
UNREPORTED_MIB = 29
# A guest's floor in the host: what a perfect policy still leaves resident for an idle guest.
FLOOR_MIB = QEMU_OVERHEAD_MIB + GUEST_BASE_MIB + UNREPORTED_MIB

SCENARIOS = {"staggered": 180, "all-spike": 90, "idle": 120, "sawtooth": 90}  # default seconds
FEASIBLE = {"staggered": True, "all-spike": False, "idle": True, "sawtooth": True}


def floor16(x):
    return int(x) // 16 * 16


def default_budget(guests, memory):
    """5/6 of the guests' configured memory: below their sum, so overcommit is real."""
    return floor16(guests * memory * 5 / 6)


def spike(size, rate, hold):
    return f"f,a{size}@{rate},h{hold},f"


def alloc_estimate(size, rate):
    """Seconds an allocation may take: at its rate, but no faster than TCG guests keep up with
    when several allocate at once (measured 48+ MiB/s), plus a second."""
    return size / min(rate, 48) + 1


def staggered(rng, guests, seconds, headroom, lead_in=20):
    sizes = [s for s in range(64, 193, 16) if s <= headroom]  # every spike fits the headroom
    if not sizes:
        sys.exit(f"scenario: a headroom of {headroom} MiB leaves no room for a 64 MiB spike: "
                 f"staggered cannot be feasible (raise --budget)")
    sends, t, order, last = [], lead_in, [], None
    while True:
        if not order:
            order = list(range(guests))
            rng.shuffle(order)
            if order[0] == last and guests > 1:
                order.append(order.pop(0))
        g = order.pop(0)
        size = rng.choice(sizes)
        rate = rng.choices([32, 64, 128, 256], weights=[2, 4, 3, 1])[0]
        hold = min(90, 20 + round(rng.expovariate(1 / 8)))
        end = t + alloc_estimate(size, rate) + hold
        if end > seconds - 5 and sends:
            break
        sends.append((g, round(t, 1), spike(size, rate, hold)))
        last = g
        t = end + rng.randint(6, 10)
    notes = [f"one guest spikes at a time ({len(sends)} spikes, each <= {max(sizes)} MiB <= headroom "
             f"{headroom} MiB; the next starts 6-10 s after the previous one's planned end, "
             f"planned with allocations at <= 48 MiB/s)"]
    return sends, notes


def all_spike(rng, guests, seconds, headroom, lead_in=15):
    sends, t, total = [], lead_in, 0
    while True:
        hold = rng.randint(20, 30)
        round_ = [(rng.choice([160, 176, 192]), rng.choice([64, 128])) for _ in range(guests)]
        longest = max(alloc_estimate(s, r) for s, r in round_)
        if t + longest + hold > seconds - 3 and sends:
            break
        for g, (s, r) in enumerate(round_):
            sends.append((g, round(t, 1), spike(s, r, hold)))
        total = max(total, sum(s for s, _ in round_))
        t += longest + hold + rng.randint(10, 15)
    notes = [f"every guest spikes at once: up to {total} MiB together > headroom {headroom} MiB "
             f"(infeasible by {total - headroom} MiB)"]
    return sends, notes


def idle(rng, guests, seconds, headroom):
    return [], ["no demand after the warm-up"]


def sawtooth(rng, guests, seconds, headroom, lead_in=10):
    amps = [rng.choice([64, 80, 96, 112]) for _ in range(guests)]
    while sum(amps) > headroom and max(amps) > 16:  # feasible: all peaks together still fit
        amps[amps.index(max(amps))] -= 16
    sends = []
    for g in range(guests):
        rate = rng.choice([32, 48, 64])
        hold = rng.randint(3, 6)
        period = rng.randint(20, 32)
        rest = max(3, round(period - amps[g] / rate - hold))
        phase = rng.uniform(0, period)
        sends.append((g, round(lead_in + phase, 1), f"a{amps[g]}@{rate},h{hold},f,s{rest},loop"))
    notes = [f"each guest grows and frees in a loop; amplitudes {amps} MiB, sum {sum(amps)} "
             f"<= headroom {headroom} MiB"]
    return sends, notes


GENERATORS = {"staggered": staggered, "all-spike": all_spike, "idle": idle, "sawtooth": sawtooth}


def generate(scenario, seed, guests, memory, budget, seconds):
    # Seeded by the scenario's name and the seed only (str seeds hash the same in every run).
    rng = random.Random(f"{scenario}:{seed}")
    headroom = budget - guests * FLOOR_MIB
    sends, notes = GENERATORS[scenario](rng, guests, seconds, headroom)
    sends.sort(key=lambda s: (s[1], s[0]))
    touch = floor16(memory * 3 / 4)
    cache = floor16(memory / 3)
    warmup = f"a{touch}@128,f,c{cache}@64"
    # The Proxmox/MOM minimum: the guest's need at its largest spike (kernel reserve and userland
    # + the spike + slack), rounded up to 16 MiB, at most the guest's memory. A lower minimum
    # makes those anchors OOM the feasible scenarios by construction (under host pressure they
    # hold every guest at its minimum whatever it needs); a higher one reclaims less.
    largest = max([int(line.split("a")[1].split("@")[0]) for _, _, line in sends] or [0])
    largest = max(largest, 192 if memory >= 256 else floor16(memory / 2))
    anchor_min = min(memory, -(-(GUEST_BASE_MIB + largest + SLACK_MIB) // 16) * 16)
    return {
        "scenario": scenario, "seed": seed, "guests": guests, "memory_mib": memory,
        "budget_mib": budget, "seconds": seconds, "feasible": FEASIBLE[scenario],
        "floor_mib": FLOOR_MIB, "headroom_mib": headroom,
        "warmup": [warmup] * guests, "guest_seeds": [seed * 100 + g + 1 for g in range(guests)],
        "sends": [{"guest": g, "t": t, "line": line} for g, t, line in sends],
        "anchor_min_mib": anchor_min, "vbox_max_mib": floor16(memory * 3 / 4),
        "cache_disk_mib": max(64, 2 * cache), "notes": notes,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--guests", type=int, default=4)
    ap.add_argument("--memory", type=int, default=384, help="MiB per guest")
    ap.add_argument("--budget", type=int, help="the host's MiB (default 5/6 of the guests' sum)")
    ap.add_argument("--seconds", type=int, help="after the warm-up (default per scenario)")
    ap.add_argument("--json", help="also write the scenario as JSON to this file")
    a = ap.parse_args()
    budget = a.budget or default_budget(a.guests, a.memory)
    s = generate(a.scenario, a.seed, a.guests, a.memory, budget, a.seconds or SCENARIOS[a.scenario])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    out = sys.stdout
    print(f"# scenario {s['scenario']}, seed {s['seed']}: {s['guests']} guests of {s['memory_mib']} MiB "
          f"({s['guests'] * s['memory_mib']} MiB), host budget {s['budget_mib']} MiB, "
          f"{s['seconds']} s after the warm-up", file=out)
    print(f"# headroom = budget - guests x floor = {s['budget_mib']} - {s['guests']} x {FLOOR_MIB} "
          f"(QEMU {QEMU_OVERHEAD_MIB} + guest {GUEST_BASE_MIB} + unreported free {UNREPORTED_MIB}) = "
          f"{s['headroom_mib']} MiB; {'feasible' if s['feasible'] else 'infeasible'}: {'; '.join(s['notes'])}",
          file=out)
    for key in ("seconds", "budget_mib", "anchor_min_mib", "vbox_max_mib", "cache_disk_mib"):
        print(key.replace("_mib", ""), s[key], file=out)
    for g in range(s["guests"]):
        print("warmup", g, s["warmup"][g], file=out)
        print("seed", g, s["guest_seeds"][g], file=out)
    for e in s["sends"]:
        print("send", e["guest"], e["t"], e["line"], file=out)


if __name__ == "__main__":
    main()
