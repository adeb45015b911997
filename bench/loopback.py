#!/usr/bin/python3
"""Loopback benchmark: smalltorrent against real BitTorrent clients, and against the floor
work of a download, all on this machine through opentracker. Entry point: bench/loopback.sh.

  bench/loopback.sh [--size MiB] [--files N] [--piece-log2 N] [--rounds N]
                    [--swarm-size MiB] [--leechers N] [--super-seed] [--peers N] [--hold SECS]
                    [--sections LIST] [--clients LIST] [--short] [--out FILE]

Sections, in this order (--sections download,upload,swarm,peers picks some):
  download  smalltorrent, aria2c, transmission-cli, libtorrent (lt_leech.py) and rqbit (if
            on PATH) take turns (A B C A B C) downloading from one libtorrent seeder, with
            the floor (examples/pipeline_floor.rs, 1 and 2 connections) in the same turns.
            Per client: MB/s, wall time, CPU seconds, peak RSS and peak RssAnon; medians.
  upload    aria2c, libtorrent and transmission-cli download from a smalltorrent seeder
            and from a libtorrent seeder; the ratio per client (above 1: smalltorrent
            serves faster).
  swarm     one smalltorrent seeder, --leechers smalltorrent leechers (127.0.0.10 and up):
            time until all are done, the seeder's upload as a multiple of the payload
            (--super-seed: the seeder super seeds, BEP 16).
  peers     one smalltorrent seeder with --peers connections: its threads and memory.
  memcg     like download, but each client inside a fresh memory cgroup of --memcg MiB
            (64; smalltorrent and aria2c unless --clients): MB/s, CPU, times the limit
            was hit, OOM kills. Needs root and the memory controller (v1 or v2).
  dht       smalltorrent and libtorrent take turns downloading a magnet link that holds
            only the info-hash, through a local DHT of three `smalltorrent dht` nodes
            and a libtorrent seeder (no tracker): seconds to the first peer, to the
            metadata and to complete.

Defaults: a 1 GiB single file (--files N: N files in a folder) in 256 KiB pieces
(--piece-log2 18), 3 rounds; swarm of 20 leechers on 256 MiB; 200 peers held 10 s.
--short (CI): 16 MiB, 1 round, 4 leechers, 20 peers held 2 s. Transmission stays in the
upload section although it idles about 20 s before its first block: it is the one client
that once could not download from us at all (it queues more than 512 requests).
Exit status 1 if any run failed: its row says FAILED, and the last lines of its log
(and its seeder's) are printed as it fails.
--out FILE appends the report (markdown) to FILE. --clients LIST times only those
download clients and floors (names as in the table, e.g. smalltorrent,libtorrent), in
that turn order.

Rates are payload bytes / 1e6 / wall seconds, from process start to done. Transmission
declares interest only on its 10 s rechoke timer, so its rate after its first block (from
its status line) is given as well.

Needs opentracker, mktorrent, aria2c, transmission-cli and python3-libtorrent (Debian).
Builds smalltorrent and the floor with `cargo build --release` (honours CARGO_TARGET_DIR);
with SMALLTORRENT_BIN=PROGRAM it times that program instead (same command line; the
floor is still built). SMALLTORRENT_BASELINE=PROGRAM adds a download client `baseline`,
that program run like smalltorrent in the same turns (a change against the build before
it: `--clients smalltorrent,baseline`).

Files: procs.py (processes, /proc sampling), workspace.py (build, payloads, torrents,
opentracker), clients.py (each client's command line, the seeders), download.py,
upload.py, swarm.py, crowd.py, memcg.py, dht.py (one per section), report.py (tables), vm.py (the VM's free
page reporting, held back while the benchmark runs); the libtorrent seeder and leecher are the tests' (tests/support/lt_seed.py, lt_leech.py).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import clients
import crowd
import dht
import download
import memcg
import procs
import swarm
import upload
import vm
import workspace

SECTIONS = ["download", "upload", "swarm", "peers", "memcg", "dht"]


def parse_args():
    ap = argparse.ArgumentParser(description="smalltorrent's loopback benchmark (see bench/loopback.py)")
    ap.add_argument("--size", type=int, default=1024, help="payload MiB (download, upload)")
    ap.add_argument("--files", type=int, default=0, help="split the payload into N files in a folder")
    ap.add_argument("--piece-log2", type=int, default=18, help="piece size as a power of two")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--swarm-size", type=int, default=256, help="swarm payload MiB (swarm, peers)")
    ap.add_argument("--leechers", type=int, default=20, help="swarm leechers (at most 30)")
    ap.add_argument("--super-seed", action="store_true", help="swarm: the seeder runs --super-seed")
    ap.add_argument("--peers", type=int, default=200, help="connections to one seeder")
    ap.add_argument("--hold", type=float, default=10, help="seconds the peers stay connected")
    ap.add_argument("--memcg", type=int, default=64, help="memcg section: the limit, MiB")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--clients", help="download section: only these clients, in this order")
    ap.add_argument("--short", action="store_true", help="quick run for CI")
    ap.add_argument("--out", help="append the report to this file")
    args = ap.parse_args()
    if args.short:
        args.size, args.rounds, args.swarm_size = 16, 1, 16
        args.leechers, args.peers, args.hold = 4, 20, 2
    args.sections = args.sections.split(",")
    unknown = set(args.sections) - set(SECTIONS)
    if unknown or not 1 <= args.leechers <= 30:
        ap.error(f"unknown sections {sorted(unknown)}" if unknown else "--leechers: 1 to 30")
    if args.clients is not None:
        args.clients = args.clients.split(",")
        unknown = set(args.clients) - set(clients.download_clients())
        if unknown:
            ap.error(f"unknown clients {sorted(unknown)}; known: {', '.join(clients.download_clients())}")
    return args


def main():
    args = parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # SIGTERM (a CI timeout, say) ends us like Ctrl-C: through `finally`, which cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="smalltorrent-bench-")
    processes = procs.Processes()
    try:
        return benchmark(args, root, work, processes)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def benchmark(args, root, work, processes):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    smalltorrent, floor = workspace.build(root, os.path.join(root, target))
    smalltorrent = os.environ.get("SMALLTORRENT_BIN", smalltorrent)
    ctx = clients.Context(root, work, smalltorrent, floor, piece_log2=args.piece_log2)

    print("preparing payloads and torrents...", flush=True)
    tracker = workspace.Opentracker(processes, os.path.join(work, "tracker"))
    payload = workspace.make_payload(os.path.join(work, "data"), args.size << 20, args.files)
    torrent = workspace.make_torrent(payload, tracker.announce_url, args.piece_log2,
                                     os.path.join(work, "bench.torrent"))
    torrents = [torrent]
    if {"swarm", "peers"} & set(args.sections):
        swarm_payload = workspace.make_payload(os.path.join(work, "swarm-data"), args.swarm_size << 20)
        swarm_torrent = workspace.make_torrent(swarm_payload, tracker.announce_url, args.piece_log2,
                                               os.path.join(work, "swarm.torrent"))
        torrents.append(swarm_torrent)
    tracker.allow(torrents)

    layout = f"{args.files} files" if args.files else "a single file"
    piece = f"{1 << (args.piece_log2 - 10)} KiB pieces"
    report = [f"## {time.strftime('%Y-%m-%d')}: loopback benchmark", "", machine(root), "",
              versions(smalltorrent), ""]
    failed = []

    # Every run's output and the payload live in the page cache: warm that much first.
    with vm.FreePages(2 * (args.size << 20) + (512 << 20)) as pages:
        report.insert(4, pages.note)
        report.insert(5, "")

        def section(title, run):
            try:
                lines, failures = run()
            except procs.Failed as why:  # its seeder or tracker did not start
                lines, failures = [f"FAILED: {why}"], [f"{title}: {why}"]
            report.extend([f"### {title}", "", *lines, ""])
            failed.extend(failures)
            print("\n".join([f"### {title}", "", *lines, ""]), flush=True)

        if "download" in args.sections:
            print(f"download: {args.size} MiB as {layout}, {piece}, {args.rounds} round(s)", flush=True)
            section(f"Download: {args.size} MiB as {layout}, {piece}, from one libtorrent seeder, "
                    f"median of {args.rounds} round(s)",
                    lambda: download.run(ctx, processes, torrent, payload, args.rounds, args.clients))
        if "upload" in args.sections:
            print("upload:", flush=True)
            section(f"Upload: each client downloads the same {args.size} MiB from one seeder, "
                    f"median of {args.rounds} round(s)",
                    lambda: upload.run(ctx, processes, tracker, torrent, payload, args.rounds,
                                       upload.LEECHERS))
        if "swarm" in args.sections:
            print(f"swarm: {args.leechers} leechers, {args.swarm_size} MiB", flush=True)
            seeder = "one smalltorrent super seeder" if args.super_seed else "one smalltorrent seeder"
            section(f"Swarm: {seeder} and {args.leechers} smalltorrent leechers, "
                    f"{args.swarm_size} MiB, {piece}",
                    lambda: swarm.run(ctx, processes, tracker, swarm_torrent, swarm_payload, args.leechers,
                                      args.super_seed))
        if "peers" in args.sections:
            print(f"peers: {args.peers} connections for {args.hold:g} s", flush=True)
            section(f"Many peers: one smalltorrent seeder ({args.swarm_size} MiB), {args.peers} "
                    f"connections held {args.hold:g} s",
                    lambda: crowd.run(ctx, processes, swarm_torrent, swarm_payload, args.peers, args.hold))
        if "memcg" in args.sections:
            print(f"memcg: {args.size} MiB inside {args.memcg} MiB, {args.rounds} round(s)", flush=True)
            section(f"Small memory: {args.size} MiB as {layout}, {piece}, from one libtorrent "
                    f"seeder, the leecher inside a {args.memcg} MiB memory cgroup, median of "
                    f"{args.rounds} round(s)",
                    lambda: memcg.run(ctx, processes, torrent, payload, args.rounds, args.memcg,
                                      args.clients))
        if "dht" in args.sections:
            print(f"dht: {args.size} MiB through a local DHT, {args.rounds} round(s)", flush=True)
            section(f"DHT: an `xt`-only magnet link ({args.size} MiB) through three `smalltorrent "
                    f"dht` nodes and a libtorrent seeder, no tracker, median of {args.rounds} round(s)",
                    lambda: dht.run(ctx, processes, torrent, payload, args.rounds))

    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(report) + "\n")
    if failed:  # each with its first line only: the logs were printed as they failed
        print("failed runs:\n  " + "\n  ".join(f.splitlines()[0] for f in failed), file=sys.stderr)
        return 1
    return 0


def machine(root):
    """One line: cores, CPU model, RAM, kernel, Debian version, load, commit."""
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    with open("/proc/meminfo") as f:
        ram_gib = int(f.readline().split()[1]) / 2**20
    try:
        with open("/etc/debian_version") as f:
            debian = "Debian " + f.read().strip()
    except OSError:
        debian = "not Debian"
    commit = run_quietly(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    return (f"Machine: {os.cpu_count()} cores ({model}), {ram_gib:.0f} GiB RAM, Linux "
            f"{os.uname().release}, {debian}; load average {os.getloadavg()[0]:.1f} at the "
            f"start; commit {commit}.")


def versions(smalltorrent):
    """One line naming every client's version."""
    lt = run_quietly(["/usr/bin/python3", "-c", "import libtorrent; print(libtorrent.__version__)"])
    names = [
        run_quietly([smalltorrent, "--version"]),
        run_quietly(["aria2c", "--version"]).replace(" version", ""),
        run_quietly(["transmission-cli", "--version"]),
        f"libtorrent {lt} (python3-libtorrent)",
        "opentracker " + run_quietly(["dpkg-query", "-W", "-f=${Version}", "opentracker"]),
    ]
    if shutil.which("rqbit"):
        names.append(run_quietly(["rqbit", "--version"]))
    return "Clients: " + ", ".join(names) + "."


def run_quietly(cmd):
    """The first line `cmd` prints (stdout or stderr), or "?"."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except OSError:
        return "?"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "?"


if __name__ == "__main__":
    sys.exit(main())
