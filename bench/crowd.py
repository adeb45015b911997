"""Many-peers section: one smalltorrent seeder (127.0.0.40, `--max-peers` above the
crowd) and N peers connecting to it at once from 127.0.0.41.

The peers are raw sockets driven from here, one selector for all: each sends a handshake
and `interested`, and once unchoked keeps 8 block requests (16 KiB, random pieces) in
flight. The seeder unchokes 4 peers plus 1 optimistic at a time, so most of the crowd
just holds its connection, as most peers of a real swarm do.

Measured on the seeder, from /proc every 20 ms: its threads and memory (VmRSS, RssAnon)
idle, then at their peak while the crowd is connected for `hold` seconds; and what it
served meanwhile.
"""

import os
import random
import selectors
import socket
import struct
import time

import clients
import procs
import workspace

BLOCK = 16 * 1024
IN_FLIGHT = 8
CROWD_IP = "127.0.0.41"


class Peer:
    """One connection of the crowd and what it has seen."""

    def __init__(self, sock):
        self.sock = sock
        self.inbox = b""
        self.shook_hands = False
        self.unchoked = False
        self.in_flight = 0
        self.received = 0  # block bytes
        self.closed = False


def run(ctx, processes, torrent, payload, count, hold):
    """Returns (markdown lines, names of the failed runs)."""
    size = workspace.tree_size(payload)
    log = os.path.join(ctx.work, "crowd-seeder.log")
    seeder = clients.SmalltorrentSeeder(processes, ctx, torrent, os.path.dirname(payload),
                                        "127.0.0.40", log, extra=["--max-peers", str(count + 50)])
    pid = seeder.proc.pid
    time.sleep(1)  # let it settle after its first announce
    idle = procs.read_status(pid)
    selector = selectors.DefaultSelector()
    peers = connect_all(seeder.addr, workspace.info_hash(torrent), count, selector)
    pieces = max(1, size // (1 << ctx.piece_log2))  # whole pieces only
    blocks_per_piece = (1 << ctx.piece_log2) // BLOCK

    def request(peer):
        while peer.in_flight < IN_FLIGHT:
            piece, block = random.randrange(pieces), random.randrange(blocks_per_piece)
            try:
                peer.sock.send(struct.pack(">IBIII", 13, 6, piece, block * BLOCK, BLOCK))
            except OSError:
                return  # its send buffer is full (or it is closed): ask again later
            peer.in_flight += 1

    # Wait for the handshakes, then hold the crowd while sampling the seeder.
    peak = dict(idle)
    started = time.monotonic()
    held_from = None
    while True:
        now = time.monotonic()
        shook = sum(p.shook_hands and not p.closed for p in peers)
        if held_from is None and (shook == len(peers) or now - started > 15):
            held_from = now
        if held_from is not None and now - held_from >= hold:
            break
        for key, _ in selector.select(procs.SAMPLE_INTERVAL):
            if not pump(key.data, request):
                selector.unregister(key.fileobj)
                key.fileobj.close()
        status = procs.read_status(pid)
        for field in ("Threads", "VmRSS", "RssAnon"):
            peak[field] = max(peak.get(field, 0), status.get(field, 0))
    served = sum(p.received for p in peers)
    connected = sum(p.shook_hands and not p.closed for p in peers)
    unchoked = sum(p.unchoked and not p.closed for p in peers)
    for peer in peers:
        peer.sock.close()
    selector.close()
    seeder.stop()

    failed = [] if connected == count else [f"many peers: {connected} of {count} connected"]
    lines = [
        "| peers | connected at the end | unchoked at the end | seeder threads idle → peak "
        "| VmRSS MiB idle → peak | RssAnon MiB idle → peak | served MB/s |",
        "|---|---|---|---|---|---|---|",
        f"| {count} | {connected} | {unchoked} | {idle.get('Threads', 0)} → {peak.get('Threads', 0)} "
        f"| {mib(idle.get('VmRSS', 0))} → {mib(peak['VmRSS'])} "
        f"| {mib(idle.get('RssAnon', 0))} → {mib(peak['RssAnon'])} "
        f"| {served / 1e6 / max(hold, 1e-9):.1f} |",
    ]
    return lines, failed


def connect_all(addr, info_hash, count, selector):
    """`count` connections to `addr`, each with a handshake and `interested` sent."""
    peers = []
    for n in range(count):
        sock = socket.socket()
        sock.bind((CROWD_IP, 0))
        sock.settimeout(10)
        peer_id = b"-BC0001-" + b"%012d" % n
        try:
            sock.connect(addr)
            sock.sendall(b"\x13BitTorrent protocol" + bytes(8) + info_hash + peer_id
                         + struct.pack(">IB", 1, 2))
        except OSError:
            sock.close()  # counted as not connected
            continue
        sock.setblocking(False)
        peer = Peer(sock)
        selector.register(sock, selectors.EVENT_READ, peer)
        peers.append(peer)
    return peers


def mib(kib):
    return f"{kib / 1024:.1f}"


def pump(peer, request):
    """Reads what `peer`'s socket holds and acts on every complete message. Returns False
    once the seeder has closed the connection."""
    try:
        data = peer.sock.recv(1 << 20)
    except BlockingIOError:
        return True
    except OSError:
        data = b""
    if not data:
        peer.closed = True
        return False
    peer.inbox += data
    if not peer.shook_hands:
        if len(peer.inbox) < 68:
            return True
        peer.inbox = peer.inbox[68:]
        peer.shook_hands = True
    while len(peer.inbox) >= 4:
        (length,) = struct.unpack(">I", peer.inbox[:4])
        if len(peer.inbox) < 4 + length:
            break
        message, peer.inbox = peer.inbox[4:4 + length], peer.inbox[4 + length:]
        kind = message[0] if message else None
        if kind == 0:  # choke: the seeder drops what we asked for
            peer.unchoked, peer.in_flight = False, 0
        elif kind == 1:  # unchoke
            peer.unchoked = True
        elif kind == 7:  # piece
            peer.received += length - 9
            peer.in_flight -= 1
    if peer.unchoked:
        request(peer)
    return True

