"""Upload section: real clients download from a smalltorrent seeder, then from a libtorrent
seeder, each seeder started fresh for every download and the only one in the swarm.

The ratio per client is its rate from smalltorrent over its rate from libtorrent: above 1,
smalltorrent serves faster. Also measured: the seeder's CPU seconds while it served.

Transmission must be dialled: it is started first, and once it listens the seeder starts
with it as a `--peer` (smalltorrent) or is told to connect (libtorrent). Its wall time
then includes the seeder's start; its rate after its first block does not.
"""

import os

import clients
import download
import procs
import report
import workspace

LEECHERS = ["aria2c", "libtorrent", "transmission"]
SEEDERS = ["smalltorrent", "libtorrent"]


def run(ctx, processes, tracker, torrent, payload, rounds, leechers=LEECHERS):
    """Returns (markdown lines, the failed runs)."""
    size = workspace.tree_size(payload)
    results, failed = {}, []
    for round_ in range(1, rounds + 1):
        for leecher in leechers:
            for seeder_name in SEEDERS:
                label = f"{round_}-from-{seeder_name}"
                try:
                    run_, seeder_cpu = serve_once(ctx, processes, tracker, torrent, payload,
                                                  leecher, seeder_name, label)
                except procs.Failed as why:
                    failed.append(f"upload {leecher} from {seeder_name} round {round_}: {why}")
                    print(f"  round {round_} {leecher} from {seeder_name}: FAILED, {why}", flush=True)
                    continue
                results.setdefault((leecher, seeder_name), []).append((run_, seeder_cpu))
                print(f"  round {round_} {leecher} from {seeder_name}: "
                      f"{download.describe(run_, size)}, seeder CPU {seeder_cpu:.2f} s", flush=True)
    return report.upload_table(leechers, SEEDERS, results, rounds, size), failed


def serve_once(ctx, processes, tracker, torrent, payload, leecher, seeder_name, label):
    """One download by `leecher` from a fresh `seeder_name` seeder: (procs.Run, the
    seeder's CPU seconds while serving). Raises procs.Failed if anything failed."""
    seeder_log = os.path.join(ctx.work, f"seeder-{seeder_name}-{leecher}-{label}.log")
    data_dir = os.path.dirname(payload)
    ip = clients.SEEDER_IP[seeder_name]
    started = {}  # the seeder, and its CPU seconds once ready

    def start_seeder(peers=()):
        if seeder_name == "smalltorrent":
            seeder = clients.SmalltorrentSeeder(processes, ctx, torrent, data_dir, ip, seeder_log,
                                                tracker=None if peers else tracker, peers=peers)
        else:
            seeder = clients.LibtorrentSeeder(processes, ctx, torrent, data_dir, ip, seeder_log)
            for peer in peers:
                seeder.dial(*peer)
        started.update(seeder=seeder, cpu=procs.cpu_seconds(seeder.proc.pid))

    def dial(peer_ip, peer_port):  # Transmission listens: now start its seeder
        start_seeder(peers=[(peer_ip, peer_port)])

    try:
        if leecher != "transmission":
            start_seeder()
        run_ = download.measure(ctx, processes, leecher, torrent, payload, label, dial)
        return run_, procs.cpu_seconds(started["seeder"].proc.pid) - started["cpu"]
    except procs.Failed as why:
        raise procs.Failed(f"{why}\nthe seeder's last output:\n{procs.last_lines(seeder_log)}") from None
    finally:
        if "seeder" in started:
            started["seeder"].stop()
