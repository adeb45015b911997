"""DHT section: a magnet link that holds only the info-hash, found through a local DHT by
smalltorrent and by libtorrent, in turns (A B A B ...).

The DHT: three `smalltorrent dht` nodes in a chain (127.0.0.50 joins nobody, .51 joins
through .50, .52 through .51) and a libtorrent seeder (tests/support/lt_dht_node.py
--seed, on 127.0.0.53) that announces the torrent through the first node only. There is
no tracker and no `--peer`: a leecher, bootstrapped from the third node, must walk the
DHT to find the seeder, fetch the metadata from it (BEP 9) and download. Every leecher
has a loopback address of its own (127.0.0.60 and up), and every copy is compared byte
for byte with the payload.

Reported per client, medians over the rounds: seconds from its start to its first peer
connected (smalltorrent's `handshake done` debug line, libtorrent's PEER line), to the
metadata (smalltorrent's `metadata kept in`, libtorrent's METADATA) and to complete;
CPU seconds and peak RSS. The times come from the benchmark's own clock, read every
20 ms; libtorrent prints its lines within about 60 ms of the event.
"""

import os
import shutil
import socket
import statistics
import time

import procs
import report
import workspace

NODES = ["127.0.0.50", "127.0.0.51", "127.0.0.52"]
SEEDER = "127.0.0.53"
ASKER = "127.0.0.54"  # where the benchmark asks the nodes whether the seeder is stored
FIRST_LEECHER = 60
CLIENTS = ["smalltorrent", "libtorrent"]
# What each client prints at its first peer and once it has the metadata.
MARKS = {
    "smalltorrent": {"peer": "handshake done", "metadata": "metadata kept in"},
    "libtorrent": {"peer": "PEER", "metadata": "METADATA"},
}


def run(ctx, processes, torrent, payload, rounds):
    """Returns (markdown lines, the failed runs)."""
    size = workspace.tree_size(payload)
    info_hash = workspace.info_hash(torrent)
    background = []  # the nodes and the seeder, stopped when the section ends
    try:
        nodes = start_nodes(ctx, processes, background)
        start_seeder(ctx, processes, torrent, os.path.dirname(payload), nodes, info_hash,
                     background)
        results, failed = take_turns(ctx, processes, info_hash, payload, nodes[-1], rounds)
    finally:
        for proc in background:
            processes.stop(proc)
    return table(results, rounds, size), failed


def take_turns(ctx, processes, info_hash, payload, bootstrap, rounds):
    """Every client once per round. Returns ({name: [times]}, [failure])."""
    magnet = f"magnet:?xt=urn:btih:{info_hash.hex()}"
    results, failed = {}, []
    leecher = FIRST_LEECHER
    for round_ in range(1, rounds + 1):
        for name in CLIENTS:
            ip = f"127.0.0.{leecher}"
            leecher += 1
            try:
                times = measure(ctx, processes, name, magnet, payload, ip, bootstrap, round_)
            except procs.Failed as why:
                failed.append(f"dht {name} round {round_}: {why}")
                print(f"  round {round_} {name}: FAILED, {why}", flush=True)
                continue
            results.setdefault(name, []).append(times)
            print(f"  round {round_} {name}: first peer {times['peer']:.2f} s, metadata "
                  f"{times['metadata']:.2f} s, complete {times['run'].wall:.2f} s, "
                  f"CPU {times['run'].cpu:.2f} s", flush=True)
    return results, failed


def start_nodes(ctx, processes, background):
    """The chain of `smalltorrent dht` nodes; returns their "IP:PORT"s."""
    addrs = []
    for ip in NODES:
        log = os.path.join(ctx.work, f"dht-node-{ip}.log")
        cmd = [ctx.smalltorrent, "dht", "--bind", f"{ip}:0"]
        if addrs:
            cmd += ["--bootstrap", addrs[-1]]
        proc = processes.start(cmd, log)
        background.append(proc)
        procs.wait_until(lambda: listening(log) or proc.poll() is not None, 30,
                         f"the dht node on {ip} to listen")
        if proc.poll() is not None:
            raise procs.Failed(f"the dht node on {ip} exited:\n{procs.last_lines(log)}")
        addrs.append(listening(log))
    return addrs


def listening(log):
    """The address after `dht node listening on` in the node's log, or None."""
    for line in procs.tail(log).decode(errors="replace").splitlines():
        if line.startswith("dht node listening on "):
            return line.split()[-1]
    return None


def start_seeder(ctx, processes, torrent, data_dir, nodes, info_hash, background):
    """The libtorrent seeder, bootstrapped from the first node, ready once one of the
    nodes holds its announce."""
    log = os.path.join(ctx.work, "dht-seeder.log")
    script = os.path.join(ctx.root, "tests", "support", "lt_dht_node.py")
    proc = processes.start([ctx.python, script, "--ip", SEEDER, "--bootstrap", nodes[0],
                            "--seed", torrent, data_dir], log)
    background.append(proc)
    procs.wait_until(lambda: any(stored(node, info_hash) for node in nodes)
                     or proc.poll() is not None, 120,
                     "the libtorrent seeder's announce to reach a dht node")
    if proc.poll() is not None:
        raise procs.Failed(f"the libtorrent seeder exited:\n{procs.last_lines(log)}")


def stored(node, info_hash):
    """Whether `node` ("IP:PORT") answers `get_peers` for `info_hash` with peers. The query
    is BEP 5's, written out as bencode."""
    ip, port = node.rsplit(":", 1)
    query = (b"d1:ad2:id20:" + b"b" * 20 + b"9:info_hash20:" + info_hash
             + b"e1:q9:get_peers1:t2:bk1:y1:qe")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ASKER, 0))
        s.settimeout(1)
        s.sendto(query, (ip, int(port)))
        try:
            answer, _ = s.recvfrom(65536)
        except OSError:
            return False
    time.sleep(0.2)  # polled in a loop: stay well under the node's rate limit
    return b"6:valuesl" in answer


def measure(ctx, processes, name, magnet, payload, ip, bootstrap, round_):
    """One download of `magnet` by client `name` on `ip`. Returns {"peer": s, "metadata": s,
    "run": procs.Run}; raises procs.Failed if it failed or its bytes differ."""
    dest = os.path.join(ctx.work, f"dht-{name}-{round_}")
    log = dest + ".log"
    os.makedirs(dest)
    os.sync()  # as in the download section: no earlier write-back charged to this run
    command, env, done = leecher(ctx, name, magnet, dest, log, ip, bootstrap)
    seen = {}

    def tick():
        text = procs.tail(log, 1 << 20).decode(errors="replace")
        for mark, needle in MARKS[name].items():
            if mark not in seen and needle in text:
                seen[mark] = time.monotonic() - started

    client = _Client(command, env, done, tick)
    started = time.monotonic()
    try:
        run_ = procs.measure(processes, client, log, timeout=120 + workspace.tree_size(payload) / 1e6)
        tick()
        if not workspace.same_tree(payload, os.path.join(dest, os.path.basename(payload))):
            raise procs.Failed("the downloaded bytes differ from the payload")
        missing = [m for m in MARKS[name] if m not in seen]
        if missing:
            raise procs.Failed(f"its log never said {', '.join(missing)}")
        return {"peer": seen["peer"], "metadata": seen["metadata"], "run": run_}
    except procs.Failed as why:
        raise procs.Failed(f"{why}; its last output:\n{procs.last_lines(log)}") from None
    finally:
        shutil.rmtree(dest, ignore_errors=True)


class _Client:
    """What procs.measure runs (the fields of clients.Leecher it reads)."""

    def __init__(self, command, env, done, tick):
        self.command, self.env, self.done, self.tick = command, env, done, tick
        self.first_data = self.progress = None


def leecher(ctx, name, magnet, dest, log, ip, bootstrap):
    """(command, environment, done) for client `name`."""
    if name == "smalltorrent":
        command = [ctx.smalltorrent, magnet, "-d", dest, "-q", "--bind", ip, "--port", "0",
                   "--dht-bootstrap", bootstrap]
        # Info, and the one debug line that says a peer is connected.
        env = dict(os.environ, RUST_LOG="smalltorrent=info,smalltorrent::peer::handshake=debug")
        return command, env, None  # it exits when complete
    script = os.path.join(ctx.root, "tests", "support", "lt_dht_node.py")
    command = [ctx.python, script, "--ip", ip, "--bootstrap", bootstrap, "--magnet", magnet, dest]
    return command, None, lambda: procs.log_has(log, "DONE")


def table(results, rounds, size):
    """One row per client, medians of its successful runs, and the ratios."""
    lines = [
        "| client | ok runs | first peer s | metadata s | complete s | MB/s | CPU s | max RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    medians = {}
    for name in CLIENTS:
        runs = results.get(name, [])
        if not runs:
            lines.append(f"| {name} | 0/{rounds} | FAILED | | | | | |")
            continue
        m = {key: statistics.median(r[key] for r in runs) for key in ("peer", "metadata")}
        m["wall"] = statistics.median(r["run"].wall for r in runs)
        m["cpu"] = statistics.median(r["run"].cpu for r in runs)
        m["rss"] = statistics.median(r["run"].max_rss_kib for r in runs) / 1024
        medians[name] = m
        lines.append(f"| {name} | {len(runs)}/{rounds} | {m['peer']:.2f} | {m['metadata']:.2f} "
                     f"| {m['wall']:.2f} | {size / 1e6 / m['wall']:.1f} | {m['cpu']:.2f} "
                     f"| {m['rss']:.1f} |")
    if len(medians) == 2:
        ours, theirs = medians["smalltorrent"], medians["libtorrent"]
        lines += ["", "smalltorrent / libtorrent (below 1: smalltorrent is quicker): first peer "
                  f"{report.ratio(ours['peer'], theirs['peer'])}, complete "
                  f"{report.ratio(ours['wall'], theirs['wall'])}."]
    return lines
