#!/usr/bin/python3
"""A lying seeder: claims every piece and answers every request with corrupted bytes.

Real clients will not serve data that fails its hash (libtorrent re-hashes pieces even in
seed_mode before uploading them), so the corrupt-peer test uses this minimal peer instead.
It speaks just enough of the wire protocol: handshake, full bitfield, unchoke, and `piece`
replies to `request`s, with every byte of the block XOR-ed with 0x5A. It announces itself to
the torrent's tracker as a seeder, prints `LISTENING <port>` and then `SEEDING`, and on SIGTERM
prints `uploaded=<bytes>` (all of them corrupt).

Run with /usr/bin/python3; libtorrent is used only to read the .torrent file.
"""

import argparse
import http.client
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

import libtorrent as lt

uploaded = 0
lock = threading.Lock()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def read_block(ti, save_dir, piece, offset, length):
    """Reads `length` bytes at `offset` within `piece`, across file boundaries."""
    out = b""
    for slice_ in ti.map_block(piece, offset, length):
        path = os.path.join(save_dir, ti.files().file_path(slice_.file_index))
        with open(path, "rb") as f:
            f.seek(slice_.offset)
            out += f.read(slice_.size)
    return out


def serve(conn, ti, save_dir, info_hash):
    global uploaded
    try:
        hs = recv_exact(conn, 68)
        if hs[28:48] != info_hash:
            return
        conn.sendall(b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-BAD000-000000000000")
        n = ti.num_pieces()
        bits = bytearray((n + 7) // 8)
        for i in range(n):
            bits[i // 8] |= 0x80 >> (i % 8)
        conn.sendall(struct.pack(">IB", 1 + len(bits), 5) + bytes(bits))
        conn.sendall(struct.pack(">IB", 1, 1))  # unchoke
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            if length == 0:
                continue  # keep-alive
            msg = recv_exact(conn, length)
            if msg[0] == 6 and length == 13:  # request
                piece, offset, size = struct.unpack(">III", msg[1:])
                block = read_block(ti, save_dir, piece, offset, size)
                bad = bytes(b ^ 0x5A for b in block)
                conn.sendall(struct.pack(">IBII", 9 + len(bad), 7, piece, offset) + bad)
                with lock:
                    uploaded += len(bad)
    except (ConnectionError, OSError, struct.error):
        pass
    finally:
        conn.close()


def announce(url, info_hash, ip, port):
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode({
        "info_hash": info_hash, "peer_id": b"-BAD000-000000000000", "port": port,
        "uploaded": 0, "downloaded": 0, "left": 0, "event": "started", "compact": 1,
    })
    # Bind the source address so the tracker lists this peer under --ip.
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5, source_address=(ip, 0))
    c.request("GET", f"{parts.path}?{query}")
    body = c.getresponse().read()
    if b"failure reason" in body:
        raise RuntimeError(f"tracker refused announce: {body!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--ip", default="127.0.0.1")
    args = ap.parse_args()

    ti = lt.torrent_info(args.torrent)
    info_hash = bytes.fromhex(str(ti.info_hash()))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.ip, 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    announce(next(iter(ti.trackers())).url, info_hash, args.ip, port)
    print("SEEDING", flush=True)

    def stop(*_):
        with lock:
            print(f"uploaded={uploaded}", flush=True)
        os._exit(0)

    def exit_with_parent(parent=os.getppid()):
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, ti, args.save_dir, info_hash), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
