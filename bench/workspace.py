"""What every section needs: the binaries, payloads and their torrents, and opentracker.

Payloads are random bytes. A payload is a single file `payload.bin`, or with `files` > 0
the folder `payload/` holding that many files (`file-000.bin` ...) of about equal size;
mktorrent makes its torrent. Clients download into fresh folders, compared byte for byte
with `same_tree`.
"""

import filecmp
import hashlib
import os
import signal
import subprocess
import time
import urllib.parse
from http.client import HTTPConnection

import procs

CHUNK = 16 << 20


def build(root, target_dir):
    """`cargo build --release` of smalltorrent and the floor example; returns their paths."""
    print("building smalltorrent and examples/pipeline_floor (release)...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--bin", "smalltorrent", "--example", "pipeline_floor"],
        cwd=root, check=True,
    )
    release = os.path.join(target_dir, "release")
    return os.path.join(release, "smalltorrent"), os.path.join(release, "examples", "pipeline_floor")


def make_payload(folder, size, files=0):
    """Writes `size` random bytes under `folder`; returns the payload's path (a file, or a
    folder of `files` files)."""
    os.makedirs(folder, exist_ok=True)
    if files == 0:
        path = os.path.join(folder, "payload.bin")
        _write_random(path, size)
        return path
    path = os.path.join(folder, "payload")
    os.makedirs(path)
    each = size // files
    for i in range(files):
        length = each if i < files - 1 else size - each * (files - 1)
        _write_random(os.path.join(path, f"file-{i:03}.bin"), length)
    return path


def _write_random(path, length):
    with open(path, "wb") as f:
        while length > 0:
            n = min(length, CHUNK)
            f.write(os.urandom(n))
            length -= n


def make_torrent(payload, announce, piece_log2, out):
    """mktorrent; returns `out`."""
    subprocess.run(
        ["mktorrent", "-a", announce, "-l", str(piece_log2), "-o", out, payload],
        check=True, stdout=subprocess.DEVNULL,
    )
    return out


def info_hash(torrent):
    """SHA-1 of the bencoded `info` value of a .torrent file."""
    with open(torrent, "rb") as f:
        data = f.read()
    start = data.index(b"4:infod") + len(b"4:info")
    return hashlib.sha1(data[start:_bencode_end(data, start)]).digest()


def _bencode_end(data, i):
    """Index just past the bencoded value starting at `data[i]`."""
    kind = data[i:i + 1]
    if kind == b"i":
        return data.index(b"e", i) + 1
    if kind in (b"l", b"d"):
        i += 1
        while data[i:i + 1] != b"e":
            i = _bencode_end(data, i)
        return i + 1
    colon = data.index(b":", i)
    return colon + 1 + int(data[i:colon])


def same_tree(expected, actual):
    """True if `actual` (a file or folder) holds exactly the bytes of `expected`."""
    if os.path.isfile(expected):
        return os.path.isfile(actual) and filecmp.cmp(expected, actual, shallow=False)
    for name in sorted(os.listdir(expected)):
        if not same_tree(os.path.join(expected, name), os.path.join(actual, name)):
            return False
    return True


def tree_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(tree_size(os.path.join(path, name)) for name in os.listdir(path))


class Opentracker:
    """Debian's opentracker on 127.0.0.1, ports chosen by the OS (read back from /proc).

    It only serves whitelisted info-hashes, and started as root it chroots to its folder
    and runs as `nobody`: so the folder and the whitelist must be world-readable, and the
    whitelist is named relative to the folder. `allow` adds hashes and sends SIGHUP, which
    makes it reload the list."""

    def __init__(self, processes, folder):
        self.folder = folder
        os.makedirs(folder, mode=0o755)
        os.chmod(folder, 0o755)
        self.whitelist = os.path.join(folder, "whitelist")
        with open(self.whitelist, "w"):
            pass
        os.chmod(self.whitelist, 0o644)
        self.proc = processes.start(
            ["opentracker", "-i", "127.0.0.1", "-p", "0", "-P", "0", "-d", folder, "-w", "whitelist"],
            os.path.join(folder, "..", "opentracker.log"), cwd=folder,
        )
        procs.wait_until(lambda: procs.listening_ports(self.proc.pid), 10, "opentracker to listen")
        self.port = procs.listening_ports(self.proc.pid)[0][1]
        self.announce_url = f"http://127.0.0.1:{self.port}/announce"

    def allow(self, torrents):
        """Whitelists the torrents; returns once opentracker answers announces for them."""
        hashes = [info_hash(t) for t in torrents]
        with open(self.whitelist, "a") as f:
            f.writelines(h.hex() + "\n" for h in hashes)
        self.proc.send_signal(signal.SIGHUP)
        for h in hashes:
            # A "stopped" announce is answered without listing a peer: harmless to repeat.
            procs.wait_until(lambda: b"d8:complete" in self._announce(h, "stopped"), 10,
                             "opentracker to reload its whitelist")

    def peers(self, torrent):
        """The (ip, port) pairs opentracker hands out for `torrent` now."""
        h = info_hash(torrent)
        reply = self._announce(h, "")
        self._announce(h, "stopped")
        at = reply.find(b"5:peers")
        if at < 0:
            return []
        rest = reply[at + 7:]
        colon = rest.index(b":")
        blob = rest[colon + 1:colon + 1 + int(rest[:colon])]
        found = [(".".join(str(b) for b in blob[i:i + 4]), int.from_bytes(blob[i + 4:i + 6], "big"))
                 for i in range(0, len(blob) - 5, 6)]
        return [p for p in found if p[1] != 1]

    def wait_for_peer(self, torrent, addr, timeout=60):
        try:
            procs.wait_until(lambda: addr in self.peers(torrent), timeout, f"the tracker to list {addr}")
        except procs.Failed as why:
            raise procs.Failed(f"{why}; it lists {self.peers(torrent)}") from None

    def _announce(self, h, event):
        """An announce as a throw-away leecher (127.0.0.1, port 1)."""
        query = urllib.parse.urlencode({
            "info_hash": h, "peer_id": b"-BENCH0-PROBE0000000", "port": 1, "uploaded": 0,
            "downloaded": 0, "left": 1, "compact": 1, "numwant": 200,
        })
        if event:
            query += f"&event={event}"
        connection = HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", f"/announce?{query}")
            return connection.getresponse().read()
        except OSError:
            time.sleep(0.05)
            return b""
        finally:
            connection.close()
