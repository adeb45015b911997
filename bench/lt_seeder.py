#!/usr/bin/python3
"""A libtorrent seeder for bench/loopback.sh that can also dial peers.

Run with /usr/bin/python3 (the Debian python3-libtorrent binding). Like
tests/support/lt_seed.py it prints, on stdout:

  LISTENING <port>   once the listen socket is open
  SEEDING            once the data is checked and an announce made after that was answered
  uploaded=<bytes>   when it stops (SIGTERM, SIGINT, or stdin closed)

and, for the benchmark: each line `connect IP:PORT` read on stdin makes it dial that peer.
Transmission never dials a loopback peer itself, so the benchmark has the seeder dial it.
DHT, LSD, UPnP, NAT-PMP and uTP are off.
"""

import argparse
import select
import signal
import sys

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--ip", default="127.0.0.1", help="loopback address to listen and announce from")
    args = ap.parse_args()

    ses = lt.session({
        "listen_interfaces": f"{args.ip}:0",
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
    })
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save_dir
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    handle = ses.add_torrent(params)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    while not stop and ses.listen_port() == 0:
        ses.wait_for_alert(100)
    print(f"LISTENING {ses.listen_port()}", flush=True)

    reannounced = seeding = False
    while not stop:
        readable, _, _ = select.select([sys.stdin], [], [], 0.05)
        if readable:
            line = sys.stdin.readline()
            if not line:
                break  # the benchmark is gone
            if line.startswith("connect "):
                host, port = line.split()[1].rsplit(":", 1)
                handle.connect_peer((host, int(port)))
        for a in ses.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert) and reannounced and not seeding:
                print("SEEDING", flush=True)
                seeding = True
            elif isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert, lt.listen_failed_alert)):
                print(f"ALERT {a.message()}", file=sys.stderr, flush=True)
        if not reannounced and handle.status().is_seeding:
            # Past opentracker's min interval: the first announce may have gone out while
            # the data was still being checked.
            handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            reannounced = True
    print(f"uploaded={handle.status().total_payload_upload}", flush=True)


if __name__ == "__main__":
    main()
