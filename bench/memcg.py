"""Small-memory section: the download section's clients (smalltorrent and aria2c unless
--clients says otherwise) take turns fetching the torrent from one libtorrent seeder, each
inside a fresh memory cgroup of --memcg MiB; the seeder stays outside. A container started
with `-m 64m`, a router or a small Pi look the same to the kernel: the page cache a client
fills counts against its limit, so it is reclaimed while the client runs.

Per client, medians: MB/s, CPU seconds, peak RssAnon, and the cgroup's counters: how often
the limit was hit (v1 `memory.failcnt`; v2 the `max` events) and OOM kills.

Needs root and the memory controller, v1 (/sys/fs/cgroup/memory) or v2 (/sys/fs/cgroup
with `memory` in cgroup.controllers); where it cannot make one the section says so and is
skipped, not failed.
"""

import os
import statistics
import time

import clients
import download
import procs
import report
import workspace

V1_ROOT = "/sys/fs/cgroup/memory"
V2_ROOT = "/sys/fs/cgroup"
DEFAULT_CLIENTS = ["smalltorrent", "aria2c"]


class MemoryCgroup:
    """A memory cgroup of `limit` bytes made for one run, removed by `remove()`."""

    def __init__(self, name, limit):
        if os.path.exists(os.path.join(V1_ROOT, "memory.limit_in_bytes")):
            self.v2, self.path = False, os.path.join(V1_ROOT, name)
        elif "memory" in read(os.path.join(V2_ROOT, "cgroup.controllers")).split():
            self.v2, self.path = True, os.path.join(V2_ROOT, name)
            write(os.path.join(V2_ROOT, "cgroup.subtree_control"), "+memory")
        else:
            raise procs.Failed("no memory cgroup controller here (neither v1 nor v2)")
        try:
            os.mkdir(self.path)
            write(os.path.join(self.path, "memory.max" if self.v2 else "memory.limit_in_bytes"),
                  str(limit))
        except OSError as why:
            self.remove()
            raise procs.Failed(f"cannot make the memory cgroup {self.path}: {why}") from None

    def wrap(self, command):
        """`command`, started inside this cgroup (the shell joins it, then execs)."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"',
                os.path.join(self.path, "cgroup.procs"), *command]

    def counters(self):
        """(times the limit was hit, OOM kills)."""
        if self.v2:
            events = keyed(read(os.path.join(self.path, "memory.events")))
            return events.get("max", 0), events.get("oom_kill", 0)
        failcnt = int(read(os.path.join(self.path, "memory.failcnt")) or 0)
        oom = keyed(read(os.path.join(self.path, "memory.oom_control")))
        return failcnt, oom.get("oom_kill", 0)

    def remove(self):
        for _ in range(50):  # the last process may still be exiting
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def keyed(text):
    """`key value` lines as {key: int}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def run(ctx, processes, torrent, payload, rounds, limit_mib, names=None):
    """Returns (markdown lines, the failed runs)."""
    size = workspace.tree_size(payload)
    names = names or DEFAULT_CLIENTS
    try:
        MemoryCgroup(f"smalltorrent-bench-{os.getpid()}-probe", limit_mib << 20).remove()
    except procs.Failed as why:  # not root, or no memory controller: not a failed run
        print(f"  SKIPPED: {why}", flush=True)
        return [f"Skipped: {why} (needs root and the memory controller)."], []
    seeder = clients.LibtorrentSeeder(processes, ctx, torrent, os.path.dirname(payload),
                                      "127.0.0.2", os.path.join(ctx.work, "memcg-seeder.log"))
    results, counts, failed = {}, {}, []
    try:
        for round_ in range(1, rounds + 1):
            for name in names:
                group = MemoryCgroup(f"smalltorrent-bench-{os.getpid()}-{name}-{round_}",
                                     limit_mib << 20)
                try:
                    run_ = download.measure(ctx, processes, name, torrent, payload,
                                            f"memcg-{round_}", seeder.dial, wrap=group.wrap)
                    hits, ooms = group.counters()
                except procs.Failed as why:
                    hits, ooms = group.counters()
                    failed.append(f"memcg {name} round {round_}: {why} ({ooms} OOM kills)")
                    print(f"  round {round_} {name}: FAILED, {why} ({ooms} OOM kills)", flush=True)
                    continue
                finally:
                    group.remove()
                results.setdefault(name, []).append(run_)
                counts.setdefault(name, []).append((hits, ooms))
                print(f"  round {round_} {name}: {download.describe(run_, size)}, CPU "
                      f"{run_.cpu:.2f} s, peak RssAnon {run_.peak_anon_kib / 1024:.1f} MiB, "
                      f"limit hit {hits} times, {ooms} OOM kills", flush=True)
    finally:
        seeder.stop()
    return table(names, results, counts, rounds, size), failed


def table(names, results, counts, rounds, size):
    lines = [
        "| client | ok runs | MB/s | CPU s (user+sys) | peak RssAnon MiB | limit hit (times) "
        "| OOM kills |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        runs = results.get(name, [])
        if not runs:
            lines.append(f"| {name} | 0/{rounds} | FAILED | | | | |")
            continue
        m = report.median_run(runs)
        hits = statistics.median(h for h, _ in counts[name])
        ooms = sum(o for _, o in counts[name])
        lines.append(f"| {name} | {len(runs)}/{rounds} | {m.mbps(size):.1f} | {m.cpu:.2f} "
                     f"| {m.peak_anon_kib / 1024:.1f} | {hits:,.0f} | {ooms} |")
    if results.get("smalltorrent"):
        st = report.median_run(results["smalltorrent"])
        lines.append("")
        for name in names:
            if name != "smalltorrent" and results.get(name):
                other = report.median_run(results[name])
                lines.append(f"- smalltorrent / {name}: MB/s "
                             f"{report.ratio(st.mbps(size), other.mbps(size))}, CPU "
                             f"{report.ratio(st.cpu, other.cpu)}")
    return lines
