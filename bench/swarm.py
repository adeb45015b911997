"""Swarm section: one smalltorrent seeder (127.0.0.30) and N smalltorrent leechers
(127.0.0.10 and up, `--bind`) meet through opentracker. All leechers start at once and
keep seeding (`--seed`) until the last one is complete, so they trade with each other.

Reported: the time until every leecher printed its `done:` line, and the seeder's upload
(its `uploaded N bytes` line at Ctrl-C) as a multiple of the payload: whatever the
leechers did not get from the seeder they got from each other. Every copy is compared
byte for byte with the payload.
"""

import os
import shutil
import signal
import statistics
import time

import clients
import procs
import workspace

TIMEOUT = 900


def run(ctx, processes, tracker, torrent, payload, leechers, super_seed=False):
    """Returns (markdown lines, names of the failed runs). With `super_seed` the seeder
    runs `--super-seed` (BEP 16)."""
    size = workspace.tree_size(payload)
    seeder_log = os.path.join(ctx.work, "swarm-seeder.log")
    seeder = clients.SmalltorrentSeeder(processes, ctx, torrent, os.path.dirname(payload),
                                        "127.0.0.30", seeder_log, tracker=tracker,
                                        extra=["--super-seed"] if super_seed else [])
    peers = []
    started = time.monotonic()
    for i in range(leechers):
        dest = os.path.join(ctx.work, f"swarm-leecher-{i + 1}")
        log = dest + ".log"
        cmd = [ctx.smalltorrent, torrent, "-d", dest, "--seed", "-q",
               "--bind", f"127.0.0.{10 + i}", "--port", "0", "--no-dht"]
        peers.append((processes.start(cmd, log), dest, log))

    done_after, failed = {}, []
    while len(done_after) + len(failed) < leechers and time.monotonic() - started < TIMEOUT:
        for i, (proc, _, log) in enumerate(peers):
            if i in done_after or f"swarm leecher {i + 1}" in failed:
                continue
            if procs.log_has(log, "done: "):
                done_after[i] = time.monotonic() - started
            elif proc.poll() is not None:
                failed.append(f"swarm leecher {i + 1}")
        time.sleep(0.05)
    total = time.monotonic() - started

    # Ctrl-C everyone at once, so no one keeps serving while the others stop.
    everyone = [seeder.proc] + [proc for proc, _, _ in peers]
    for proc in everyone:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in everyone:
        processes.stop(proc, sig=None, grace=30)
    uploaded = clients.last_number(seeder_log, rb"uploaded (\d+) bytes")
    for i, (proc, dest, _) in enumerate(peers):
        name = f"swarm leecher {i + 1}"
        if i not in done_after and name not in failed:
            failed.append(f"{name} (not done after {TIMEOUT} s)")
        elif i in done_after and not workspace.same_tree(payload, os.path.join(dest, os.path.basename(payload))):
            failed.append(f"{name} (bytes differ)")
        shutil.rmtree(dest, ignore_errors=True)
    if seeder.proc.returncode != 0 or uploaded is None:
        failed.append("swarm seeder (exit status or no 'uploaded' line)")

    times = sorted(done_after.values())
    lines = [
        "| leechers | payload MiB | all done after s | first done s | median done s "
        "| seeder uploaded (x payload) | leechers' total MB/s |",
        "|---|---|---|---|---|---|---|",
    ]
    if len(times) == leechers:
        ratio = f"{uploaded / size:.2f}" if uploaded is not None else "?"
        lines.append(
            f"| {leechers} | {size / 2**20:.0f} | {times[-1]:.2f} | {times[0]:.2f} "
            f"| {statistics.median(times):.2f} | {ratio} | {leechers * size / 1e6 / times[-1]:.1f} |")
    else:
        lines.append(f"| {leechers} | {size / 2**20:.0f} | FAILED ({len(times)} done in "
                     f"{total:.0f} s) | | | | |")
    return lines, failed
