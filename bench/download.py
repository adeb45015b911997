"""Download section: every client fetches the torrent from one libtorrent seeder.

The clients take turns (A B C A B C ...), each into a fresh folder that is compared byte
for byte with the payload and then removed, and each after a `sync`, so all see the same
machine (no write-back of an earlier run's data during theirs). The floor
(examples/pipeline_floor.rs, one and two connections) takes its turn with them.
"""

import os
import shutil

import clients
import procs
import report
import workspace


def run(ctx, processes, torrent, payload, rounds, names=None):
    """Returns (markdown lines, the failed runs). `names`: the clients (and floors) to
    time, in turn order; by default all of clients.download_clients()."""
    size = workspace.tree_size(payload)
    seeder = clients.LibtorrentSeeder(processes, ctx, torrent, os.path.dirname(payload),
                                      "127.0.0.2", os.path.join(ctx.work, "download-seeder.log"))
    names = names or clients.download_clients()
    try:
        results, failed = take_turns(ctx, processes, names, torrent, payload, rounds, seeder.dial)
    finally:
        seeder.stop()
    lines = report.download_table(names, results, rounds, size)
    lines += [""] + report.download_ratios(names, results, size)
    return lines, failed


def take_turns(ctx, processes, names, torrent, payload, rounds, dial):
    """Every client once per round, in order. Returns ({name: [procs.Run]}, [failure])."""
    size = workspace.tree_size(payload)
    results, failed = {}, []
    for round_ in range(1, rounds + 1):
        for name in names:
            try:
                run_ = measure(ctx, processes, name, torrent, payload, f"{round_}", dial)
            except procs.Failed as why:
                failed.append(f"download {name} round {round_}: {why}")
                print(f"  round {round_} {name}: FAILED, {why}", flush=True)
                continue
            results.setdefault(name, []).append(run_)
            print(f"  round {round_} {name}: {describe(run_, size)}, CPU {run_.cpu:.2f} s, "
                  f"peak RssAnon {run_.peak_anon_kib / 1024:.1f} MiB, {run_.minor_faults} minor faults",
                  flush=True)
    return results, failed


def describe(run_, size):
    """`2.31 s, 464.8 MB/s`, and the rate after its first block for clients that wait."""
    text = f"{run_.wall:.2f} s, {run_.mbps(size):.1f} MB/s"
    if run_.waited:
        after = report.rate(run_.mbps_after_wait(size))
        text += f" ({after} MB/s after its first block at {run_.waited:.1f} s)"
    return text


def measure(ctx, processes, name, torrent, payload, label, dial, wrap=None):
    """One download by client `name` into a fresh folder, logged to WORK/NAME-LABEL.log,
    its command passed through `wrap` if given (memcg.py runs it in a cgroup). Returns a
    procs.Run; raises procs.Failed if it failed or its bytes differ from the payload."""
    slug = name.replace(" ", "-").replace("(", "").replace(")", "")
    dest = os.path.join(ctx.work, f"out-{slug}-{label}")
    log = os.path.join(ctx.work, f"{slug}-{label}.log")
    os.makedirs(dest)
    # The previous run's data (or the payload just generated) may still be dirty in the
    # page cache; its write-back would run during this run and be charged to whichever
    # client comes next. Write it all back first, so every client starts alike.
    os.sync()
    client = clients.leecher(ctx, name, torrent, payload, dest, log, dial)
    if wrap is not None:
        client.command = wrap(client.command)
    try:
        # Slower than 1 MB/s after two minutes counts as failed.
        run_ = procs.measure(processes, client, log, timeout=120 + workspace.tree_size(payload) / 1e6)
        if not workspace.same_tree(payload, os.path.join(dest, os.path.basename(payload))):
            raise procs.Failed("the downloaded bytes differ from the payload")
        return run_
    except procs.Failed as why:
        raise procs.Failed(f"{why}; its last output:\n{procs.last_lines(log)}") from None
    finally:
        for folder in [dest, *client.cleanup]:
            shutil.rmtree(folder, ignore_errors=True)
