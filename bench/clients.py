"""The programs the benchmark runs: how each one downloads, and how each one seeds.

Each role has its own loopback address, so the tracker's lists and the logs tell them apart:

  127.0.0.2   libtorrent seeder (download section)
  127.0.0.3   smalltorrent leecher        127.0.0.4   aria2c
  127.0.0.5   transmission-cli            127.0.0.6   libtorrent leecher (lt_leech.py)
  127.0.0.7   rqbit                       127.0.0.8   smalltorrent seeder (upload)
  127.0.0.9   libtorrent seeder (upload)  127.0.0.10-29  swarm leechers, .30 its seeder
  127.0.0.40  seeder with many peers      127.0.0.41  the many peers
  127.0.0.42  baseline: another smalltorrent binary (SMALLTORRENT_BASELINE=PROGRAM), for
              comparing a change with the build before it in the same turns

Transmission never dials a peer on 127.0.0.0/8 itself (it only accepts), so its seeder
dials it once it listens (`tick`); it keeps running when complete, so it is done when its
status line says `Seeding`. It declares interest on its 10 s rechoke timer, so 10 to 20 s
pass before its first block: its rate from then on is reported too (`first_data`).
"""

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Optional

import procs

LEECHER_IP = {
    "smalltorrent": "127.0.0.3",
    "aria2c": "127.0.0.4",
    "transmission": "127.0.0.5",
    "libtorrent": "127.0.0.6",
    "rqbit": "127.0.0.7",
    "baseline": "127.0.0.42",
}
SEEDER_IP = {"smalltorrent": "127.0.0.8", "libtorrent": "127.0.0.9"}
FLOORS = {"floor (1 conn)": 1, "floor (2 conns)": 2}


@dataclass
class Context:
    """Paths every client needs."""

    root: str  # the repository
    work: str  # the benchmark's temporary folder
    smalltorrent: str  # the binary under test
    floor: str  # examples/pipeline_floor
    python: str = "/usr/bin/python3"  # the Debian python with the libtorrent binding
    piece_log2: int = 18


def download_clients():
    """The download clients and the floors, in turn order; rqbit only if it is on PATH,
    the baseline only if SMALLTORRENT_BASELINE names a program."""
    names = ["smalltorrent", "aria2c", "transmission", "libtorrent"]
    if os.environ.get("SMALLTORRENT_BASELINE"):
        names.insert(1, "baseline")
    if shutil.which("rqbit"):
        names.append("rqbit")
    return names + list(FLOORS)


@dataclass
class Leecher:
    """One client set up to download a torrent into `dest`; run it with `procs.measure`."""

    command: list
    done: Optional[Callable[[], bool]] = None  # for clients that keep running when complete
    tick: Optional[Callable[[], None]] = None  # called while it runs
    first_data: Optional[Callable[[], bool]] = None  # for clients that say when data arrives
    progress: Optional[Callable[[], object]] = None  # changes while it makes progress
    env: Optional[dict] = None
    cleanup: list = field(default_factory=list)  # folders to remove afterwards


def leecher(ctx, name, torrent, payload, dest, log, dial=None):
    """`name` downloading `torrent` into the folder `dest`. `payload` is what the torrent
    holds (the floor reads it directly); `dial(ip, port)` makes the seeder connect to a
    peer, for Transmission."""
    ip = LEECHER_IP.get(name, "127.0.0.1")
    if name in ("smalltorrent", "baseline"):
        program = ctx.smalltorrent if name == "smalltorrent" else os.environ["SMALLTORRENT_BASELINE"]
        return Leecher([program, torrent, "-d", dest, "-q", "--bind", ip, "--port", "0",
                        "--no-dht"])
    if name == "aria2c":
        return Leecher(aria2c_command(torrent, dest, ip))
    if name == "libtorrent":
        script = os.path.join(ctx.root, "tests", "support", "lt_leech.py")
        return Leecher([ctx.python, script, torrent, dest, "--ip", ip])
    if name == "rqbit":
        return Leecher(rqbit_command(torrent, dest, ip))
    if name == "transmission":
        return transmission(ctx, torrent, dest, log, ip, dial)
    if name in FLOORS:
        out = os.path.join(dest, os.path.basename(payload))
        return Leecher([ctx.floor, payload, out, "--connections", FLOORS[name],
                        "--piece-size", 1 << ctx.piece_log2])
    raise ValueError(f"unknown client {name}")


def aria2c_command(torrent, dest, ip):
    """aria2c exiting once complete, DHT, LPD and PEX off, every socket bound to `ip`,
    disk space reserved with posix_fallocate as smalltorrent does."""
    return ["aria2c", "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
            "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=falloc",
            "--console-log-level=warn", "--summary-interval=0", "--quiet=true",
            f"--interface={ip}", f"--listen-port={procs.free_port(ip)}", "-d", dest, torrent]


def rqbit_command(torrent, dest, ip):
    """rqbit exiting once complete; DHT, LSD, UPnP and its HTTP API off; listening on `ip`."""
    return ["rqbit", "--disable-dht", "--disable-dht-persistence", "--disable-lsd",
            "--disable-upnp-port-forward", "--ipv4-only", "--listen-ip", ip,
            "download", "--disable-http-api", "--exit-on-finish", "-o", dest, torrent]


def transmission(ctx, torrent, dest, log, ip, dial):
    """transmission-cli with DHT, LPD, PEX, uTP, port mapping and RPC off, bound to `ip`.
    Its seeder is told to dial it once it listens; it is done when it says `Seeding`."""
    config = dest + "-transmission"
    os.makedirs(config)
    port = procs.free_port(ip)
    settings = {
        "bind-address-ipv4": ip, "bind-address-ipv6": "::1", "peer-port": port,
        "peer-port-random-on-start": False, "dht-enabled": False, "lpd-enabled": False,
        "pex-enabled": False, "utp-enabled": False, "port-forwarding-enabled": False,
        "rpc-enabled": False, "speed-limit-up-enabled": False, "ratio-limit-enabled": False,
        "idle-seeding-limit-enabled": False,
    }
    with open(os.path.join(config, "settings.json"), "w") as f:
        json.dump(settings, f)
    dialled = []

    def tick():
        if not dialled and (ip, port) in procs.listening_ports_on(ip):
            dialled.append(True)
            dial(ip, port)

    def progress():  # the last "Progress: 12.3%" of its status line
        found = re.findall(rb"Progress: ([\d.]+)%", procs.tail(log))
        return found[-1] if found else None

    return Leecher(["transmission-cli", "-g", config, "-w", dest, torrent],
                   done=lambda: b"Seeding" in procs.tail(log), tick=tick,
                   first_data=lambda: progress() not in (None, b"0.0"), progress=progress,
                   cleanup=[config])


class LibtorrentSeeder:
    """tests/support/lt_seed.py seeding `data_dir`; `dial` makes it connect to a peer."""

    def __init__(self, processes, ctx, torrent, data_dir, ip, log):
        self.processes, self.log = processes, log
        script = os.path.join(ctx.root, "tests", "support", "lt_seed.py")
        self.proc = processes.start([ctx.python, script, torrent, data_dir, "--ip", ip,
                                     "--dial-from-stdin"], log, stdin=subprocess.PIPE)
        procs.wait_until(lambda: procs.log_has(log, "SEEDING") or self.proc.poll() is not None,
                         300, "the libtorrent seeder to check its data and announce")
        if self.proc.poll() is not None:
            raise procs.Failed(f"the libtorrent seeder exited:\n{procs.last_lines(log)}")

    def dial(self, ip, port):
        self.proc.stdin.write(f"connect {ip}:{port}\n".encode())
        self.proc.stdin.flush()

    def stop(self):
        """Stops it; returns the payload bytes it uploaded."""
        self.processes.stop(self.proc)
        return last_number(self.log, rb"uploaded=(\d+)")


class SmalltorrentSeeder:
    """`smalltorrent TORRENT -s DIR --bind IP --port 0`, ready once it listens and (with a
    tracker) the tracker lists it. `peers` are dialled at start (`--peer`)."""

    def __init__(self, processes, ctx, torrent, data_dir, ip, log, tracker=None, peers=(), extra=()):
        self.processes, self.log = processes, log
        cmd = [ctx.smalltorrent, torrent, "-s", data_dir, "--bind", ip, "--port", "0", "--no-dht",
               *extra]
        for peer_ip, peer_port in peers:
            cmd += ["--peer", f"{peer_ip}:{peer_port}"]
        # Its log then also says what the tracker answered and why a peer was dropped.
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "smalltorrent=info"))
        self.proc = processes.start(cmd, log, env=env)
        procs.wait_until(lambda: self.port() or self.proc.poll() is not None, 300,
                         "the smalltorrent seeder to check its data and listen")
        if self.proc.poll() is not None:
            raise procs.Failed(f"the smalltorrent seeder exited:\n{procs.last_lines(log)}")
        self.addr = (ip, self.port())
        if tracker is not None:
            try:
                tracker.wait_for_peer(torrent, self.addr)
            except procs.Failed as why:  # what the tracker answered it is in its log
                raise procs.Failed(f"{why}; the seeder's log ends:\n{procs.last_lines(log)}") from None

    def port(self):
        return last_number(self.log, rb"listening on [\d.]+:(\d+)")

    def stop(self):
        """Ctrl-C; returns the payload bytes it says it uploaded."""
        self.processes.stop(self.proc, signal.SIGINT)
        return last_number(self.log, rb"uploaded (\d+) bytes")


def last_number(path, pattern):
    """The last match of `pattern`'s group in the file at `path`, as an int, or None."""
    try:
        with open(path, "rb") as f:
            found = re.findall(pattern, f.read())
    except OSError:
        return None
    return int(found[-1]) if found else None
