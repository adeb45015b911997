"""Medians of measured runs, as markdown tables and smalltorrent / other ratios."""

import dataclasses
import statistics

from procs import Run

MIB = 1024


def median_run(runs):
    """A Run whose every field is the median of that field over `runs`."""
    return Run(*(statistics.median(getattr(r, f.name) for r in runs)
                 for f in dataclasses.fields(Run)))


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def rate(mbps):
    return f"{mbps:.1f}" if mbps is not None else "n/a"


def download_table(names, results, rounds, payload):
    """One row per client: medians of its successful runs."""
    lines = [
        "| client | ok runs | wall s | MB/s | CPU s (user+sys) | max RSS MiB | peak RssAnon MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        runs = results.get(name, [])
        if not runs:
            lines.append(f"| {name} | 0/{rounds} | FAILED | | | | |")
            continue
        m = median_run(runs)
        lines.append(
            f"| {name} | {len(runs)}/{rounds} | {m.wall:.2f} | {m.mbps(payload):.1f} "
            f"| {m.cpu:.2f} | {m.max_rss_kib / MIB:.1f} | {m.peak_anon_kib / MIB:.1f} |")
    return lines


def download_ratios(names, results, payload, target=0.85):
    """`smalltorrent / X` for every other client and each floor, from the medians."""
    if not results.get("smalltorrent"):
        return ["(no smalltorrent run succeeded: no ratios)"]
    st = median_run(results["smalltorrent"])
    lines = []
    for name in names:
        if name == "smalltorrent" or not results.get(name):
            continue
        other = median_run(results[name])
        speed = ratio(st.mbps(payload), other.mbps(payload))
        if name.startswith("floor"):
            lines.append(f"- smalltorrent / {name}: MB/s {speed} (issue 8 target: at least "
                         f"{target}), CPU {ratio(st.cpu, other.cpu)}")
            continue
        line = (f"- smalltorrent / {name}: MB/s {speed}, CPU {ratio(st.cpu, other.cpu)}, "
                f"peak RssAnon {ratio(st.peak_anon_kib, other.peak_anon_kib)}")
        lines.append(line + after_wait(st, other, payload))
    return lines


def after_wait(ours, theirs, payload):
    """For a client that waits before its first block: the MB/s ratio from then on."""
    if not theirs.waited:
        return ""
    after = theirs.mbps_after_wait(payload)
    return (f"; from its first block (after {theirs.waited:.1f} s) it made {rate(after)} MB/s, "
            f"a ratio of {ratio(ours.mbps(payload), after)}")


def upload_table(leechers, seeders, results, rounds, payload):
    """One row per leecher: its median rate from each seeder, and the ratio; then, for a
    leecher that waits before its first block, the rates from that block on.

    `results[(leecher, seeder)]` holds (leecher Run, seeder CPU seconds) pairs."""
    a, b = seeders
    lines = [
        f"| leecher | ok runs | from {a} MB/s | from {b} MB/s | {a} / {b} "
        f"| {a} CPU s | {b} CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for leecher in leechers:
        pairs = [results.get((leecher, s), []) for s in seeders]
        runs = [median_run([run for run, _ in p]) if p else None for p in pairs]
        cpus = [f"{statistics.median(cpu for _, cpu in p):.2f}" if p else "" for p in pairs]
        rates = [r.mbps(payload) if r else None for r in runs]
        shown = [rate(x) if x is not None else "FAILED" for x in rates]
        lines.append(
            f"| {leecher} | {' and '.join(f'{len(p)}/{rounds}' for p in pairs)} "
            f"| {shown[0]} | {shown[1]} | {ratio(*rates)} | {cpus[0]} | {cpus[1]} |")
        if any(r and r.waited for r in runs):
            after = [r.mbps_after_wait(payload) if r else None for r in runs]
            notes.append(f"- {leecher} from its first block: {rate(after[0])} MB/s from {a}, "
                         f"{rate(after[1])} MB/s from {b}, a ratio of {ratio(*after)}")
    return lines + ([""] + notes if notes else [])
