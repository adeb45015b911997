#!/usr/bin/python3
"""Download one torrent with libtorrent on loopback, for smalltorrent's upload tests.

Run with /usr/bin/python3 (the Debian python3-libtorrent binding). DHT, LSD, UPnP,
NAT-PMP and uTP are off; it listens on --ip (port 0 unless --port) and announces to
the torrent's tracker from there. Prints, on stdout:

  LISTENING <port>      once the listen socket is open
  HASH_FAILED <piece>   for every piece whose data failed its SHA-1 (a peer sent bad data)
  HAVE <0/1 per piece>  when it stops: after DONE, or --report-after SECS without progress
  DONE                  once every piece is downloaded and verified; then it exits
  downloaded=<payload bytes> uploaded=<payload bytes>   last, as it exits

With --report-after SECS it gives up once SECS pass without a new verified piece
(counted from start, so a seeder that never connects also ends it): it prints HAVE
and exits, so a test can see exactly which pieces a seeder served.

TORRENT may be a magnet link instead of a .torrent file: libtorrent then fetches the
metadata from its peers first (BEP 9) and prints `METADATA <size>` once it has it.

With --encryption LEVEL it speaks only Message Stream Encryption, both ways (in and out
enc_policy forced), and allows LEVEL after the handshake: both (plaintext or RC4, as the
other side selects), plaintext (offers only plaintext) or rc4 (offers only RC4).

With --print-peers it also prints `PEER <ip>:<port> <source>` once for each peer it is
connected to (handshake done), as it sees it: source is `pex` for a peer it learnt by
peer exchange (BEP 11; libtorrent's ut_pex plugin is on by default), `tracker`, or
`other` (--peer, or a peer that dialled it, whose port is then its source port).
"""

import argparse
import os
import signal
import sys
import time

import libtorrent as lt


def bits(status, num_pieces):
    have = status.pieces
    return "".join("1" if have[i] else "0" for i in range(num_pieces)) if have else "0" * num_pieces


def print_new_peers(handle, seen):
    """Prints `PEER IP:PORT SOURCE` for each connected peer not printed before."""
    for peer in handle.get_peer_info():
        if peer.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
            continue
        addr = f"{peer.ip[0]}:{peer.ip[1]}"
        if addr in seen:
            continue
        seen.add(addr)
        if peer.source & lt.peer_info.pex:
            source = "pex"
        elif peer.source & lt.peer_info.tracker:
            source = "tracker"
        else:
            source = "other"
        print(f"PEER {addr} {source}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--ip", default="127.0.0.1", help="loopback address to listen and announce from")
    ap.add_argument("--port", type=int, default=0, help="0 = let the OS choose; the port is printed")
    ap.add_argument("--peer", action="append", default=[], help="IP:PORT to connect to directly")
    ap.add_argument("--report-after", type=float, default=0,
                    help="give up after SECS without a new piece: print HAVE and exit")
    ap.add_argument("--encryption", choices=["both", "plaintext", "rc4"],
                    help="require MSE both ways, allowing this level after the handshake")
    ap.add_argument("--print-peers", action="store_true",
                    help="print PEER IP:PORT SOURCE for each peer once connected")
    args = ap.parse_args()

    settings = {
        # An IPv6 address (`::1`, BEP 7 tests) is written in brackets.
        "listen_interfaces": f"[{args.ip}]:{args.port}" if ":" in args.ip else f"{args.ip}:{args.port}",
        "outgoing_interfaces": args.ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }
    if args.encryption:
        levels = {"both": lt.enc_level.both, "plaintext": lt.enc_level.pe_plaintext, "rc4": lt.enc_level.rc4}
        settings["out_enc_policy"] = lt.enc_policy.forced
        settings["in_enc_policy"] = lt.enc_policy.forced
        settings["allowed_enc_level"] = levels[args.encryption]
    ses = lt.session(settings)
    if args.torrent.startswith("magnet:"):
        params = lt.parse_magnet_uri(args.torrent)
        info = None
    else:
        info = lt.torrent_info(args.torrent)
        params = lt.add_torrent_params()
        params.ti = info
    params.save_path = args.save_dir
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    handle = ses.add_torrent(params)

    parent = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    while not stop and ses.listen_port() == 0:
        ses.wait_for_alert(100)
    print(f"LISTENING {ses.listen_port()}", flush=True)
    for peer in args.peer:
        host, port = peer.rsplit(":", 1)
        handle.connect_peer((host.strip("[]"), int(port)))

    seen = set()
    while not stop and info is None and os.getppid() == parent:
        ses.pop_alerts()
        if args.print_peers:
            print_new_peers(handle, seen)
        if handle.status().has_metadata:
            info = handle.torrent_file()
            print(f"METADATA {info.metadata_size()}", flush=True)
        else:
            ses.wait_for_alert(100)
    if info is None:
        return
    num_pieces = info.num_pieces()
    last_count = -1
    last_progress = time.monotonic()
    done = False
    while not stop and os.getppid() == parent:  # also exit if the test process died
        for a in ses.pop_alerts():
            if isinstance(a, lt.hash_failed_alert):
                print(f"HASH_FAILED {a.piece_index}", flush=True)
            elif isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert, lt.listen_failed_alert)):
                print(f"ALERT {a.message()}", file=sys.stderr, flush=True)
        if args.print_peers:
            print_new_peers(handle, seen)
        status = handle.status()
        if status.num_pieces != last_count:
            last_count = status.num_pieces
            last_progress = time.monotonic()
        if status.is_seeding:
            done = True
            break
        if args.report_after and time.monotonic() - last_progress > args.report_after:
            break
        ses.wait_for_alert(100)
    status = handle.status()
    print(f"HAVE {bits(status, num_pieces)}", flush=True)
    if done:
        # Make sure the files are complete on disk before the test compares them.
        handle.flush_cache()
        print("DONE", flush=True)
    print(f"downloaded={status.total_payload_download} uploaded={status.total_payload_upload}", flush=True)


if __name__ == "__main__":
    main()
