#!/usr/bin/python3
"""Stands in for smalltorrent's upload side by running libtorrent, to check the upload
acceptance tests with a known-good client before (or instead of) smalltorrent:

  SMALLTORRENT_BIN=$PWD/tests/support/lt_as_smalltorrent.py \
      cargo test --test upload_interop --test swarm

It speaks the part of smalltorrent's command line those tests use, and prints the lines
they read on stderr:

  FILE.torrent (-s DIR | -d DIR) [--bind IP] [--port N] [--seed] [--seed-ratio R]
               [--seed-time MIN] [--max-upload-rate RATE] [-q]

  checked data: X of N pieces valid (P%)   after checking what DIR holds
  listening on IP:PORT                     then
  done: NAME                               when a download completes
  uploaded N bytes (R x the torrent)       on exit

`-s` seeds (and fetches what is missing); `-d` downloads and exits once complete unless
`--seed`. SIGINT/SIGTERM end it with status 0.
"""

import argparse
import os
import signal
import sys
import time

import libtorrent as lt


def log(line):
    print(line, file=sys.stderr, flush=True)


def rate(text):
    """Bytes per second, with smalltorrent's 1024-based K/M/G suffixes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    unit = units.get(text[-1:].upper(), 1)
    return int(float(text[:-1] if unit > 1 else text) * unit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("-s", "--seed-dir")
    ap.add_argument("-d", "--dir")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6881)
    ap.add_argument("--seed", action="store_true")
    ap.add_argument("--seed-ratio", type=float, default=0)
    ap.add_argument("--seed-time", type=float, default=0)
    ap.add_argument("--max-upload-rate", type=rate, default=0)
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--no-dht", action="store_true", help="accepted; this stand-in never uses the DHT")
    args = ap.parse_args()
    seeding_mode = args.seed_dir is not None
    keep_seeding = seeding_mode or args.seed
    save_dir = args.seed_dir if seeding_mode else (args.dir or ".")

    ses = lt.session({
        "listen_interfaces": f"{args.bind}:{args.port}",
        "outgoing_interfaces": args.bind,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        # Issue 3's choker: 4 regular unchokes (plus libtorrent's optimistic one), not
        # libtorrent's default 8, which would unchoke a whole 6-leecher swarm at once.
        "unchoke_slots_limit": 4,
        "upload_rate_limit": args.max_upload_rate,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    info = lt.torrent_info(args.torrent)
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = save_dir
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    handle = ses.add_torrent(params)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    while not stop and handle.status().state in (
        lt.torrent_status.checking_files,
        lt.torrent_status.checking_resume_data,
    ):
        ses.wait_for_alert(100)
    valid, total = handle.status().num_pieces, info.num_pieces()
    log(f"checked data: {valid} of {total} pieces valid ({100.0 * valid / total:.1f}%)")
    while not stop and ses.listen_port() == 0:
        ses.wait_for_alert(100)
    log(f"listening on {args.bind}:{ses.listen_port()}")

    parent = os.getppid()
    seeding_since = None
    size = info.total_size()
    while not stop and os.getppid() == parent:
        ses.pop_alerts()
        status = handle.status()
        if status.is_seeding and seeding_since is None:
            seeding_since = time.monotonic()
            if not seeding_mode:
                log(f"done: {info.name()}")
            if not keep_seeding:
                break
        if seeding_since is not None:
            if args.seed_ratio and status.total_payload_upload >= args.seed_ratio * size:
                break
            if args.seed_time and time.monotonic() - seeding_since >= args.seed_time * 60:
                break
        ses.wait_for_alert(200)
    up = handle.status().total_payload_upload
    log(f"uploaded {up} bytes ({up / size:.1f} x the torrent)")


if __name__ == "__main__":
    main()
