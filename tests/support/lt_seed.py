#!/usr/bin/python3
"""Seed one torrent with libtorrent on loopback, for smalltorrent's tests.

Run with /usr/bin/python3 (the Debian python3-libtorrent binding). Prints
`LISTENING <port>` once the listen socket is open, then `SEEDING` once the data
is checked (or assumed good, with --seed-mode) and the tracker has accepted an
announce. On SIGTERM it prints `uploaded=<payload bytes sent>` and exits, so a
test can tell whether this seeder was actually used.

With --encryption LEVEL it speaks only Message Stream Encryption, both ways, allowing
LEVEL (both, plaintext, rc4) after the handshake; --encryption off refuses MSE.

With --no-pex it neither sends nor reads peer exchange messages (BEP 11's ut_pex, which
libtorrent otherwise speaks by default): a test that checks who learnt of whom by PEX
keeps the seeder out of it, so the seeder never dials a peer some PEX message named.

With --dial-from-stdin (for bench/loopback.sh) each line `connect IP:PORT` read on stdin
makes it dial that peer, and stdin closing stops it: Transmission never dials a loopback
peer itself, so the benchmark has the seeder dial it.
"""

import argparse
import os
import select
import signal
import sys

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--ip", default="127.0.0.1", help="loopback address to listen and announce from")
    ap.add_argument("--port", type=int, default=0, help="0 = let the OS choose; the port is printed")
    ap.add_argument("--seed-mode", action="store_true",
                    help="skip the initial hash check and serve whatever the files hold")
    ap.add_argument("--upload-rate", type=int, default=0, help="bytes/s, 0 = unlimited")
    ap.add_argument("--encryption", choices=["both", "plaintext", "rc4", "off"],
                    help="require MSE both ways, allowing this level after the handshake; "
                    "off: refuse MSE, plain handshakes only")
    ap.add_argument("--no-pex", action="store_true",
                    help="no peer exchange for this torrent, either way")
    ap.add_argument("--dial-from-stdin", action="store_true",
                    help="dial IP:PORT for each line `connect IP:PORT` on stdin; stop at its end")
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
    if args.encryption == "off":
        settings["out_enc_policy"] = lt.enc_policy.disabled
        settings["in_enc_policy"] = lt.enc_policy.disabled
    elif args.encryption:
        levels = {"both": lt.enc_level.both, "plaintext": lt.enc_level.pe_plaintext, "rc4": lt.enc_level.rc4}
        settings["out_enc_policy"] = lt.enc_policy.forced
        settings["in_enc_policy"] = lt.enc_policy.forced
        settings["allowed_enc_level"] = levels[args.encryption]
    ses = lt.session(settings)

    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save_dir
    if args.seed_mode:
        params.flags |= lt.torrent_flags.seed_mode
    if args.no_pex:
        params.flags |= lt.torrent_flags.disable_pex
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    handle = ses.add_torrent(params)
    if args.upload_rate:
        # A per-torrent limit also covers loopback peers, which the session-wide limit exempts
        # (they fall in libtorrent's unthrottled "local" peer class).
        handle.set_upload_limit(args.upload_rate)

    parent = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    # The listen socket opens asynchronously; with --port 0 only then is the port known.
    while not stop and ses.listen_port() == 0:
        ses.wait_for_alert(100)
    print(f"LISTENING {ses.listen_port()}", flush=True)
    # SEEDING means "a leecher asking the tracker now will learn about us": the data is
    # checked and an announce sent after that (so with left=0) has been answered.
    reannounced = False
    seeding = False
    while not stop and os.getppid() == parent:  # also exit if the test process died
        for a in ses.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert) and reannounced and not seeding:
                print("SEEDING", flush=True)
                seeding = True
            elif isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert, lt.listen_failed_alert)):
                print(f"ALERT {a.message()}", file=sys.stderr, flush=True)
        if not reannounced and handle.status().is_seeding:
            # Past the tracker's min interval too: if the data check ended after the first
            # announce, a plain re-announce would wait 15 minutes (opentracker's min interval).
            handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            reannounced = True
        if not args.dial_from_stdin:
            ses.wait_for_alert(100)
        elif not dial_requested_peers(handle):
            break  # stdin closed: whoever started us is gone
    print(f"uploaded={handle.status().total_payload_upload}", flush=True)


def dial_requested_peers(handle):
    """Waits up to 50 ms for a line on stdin and dials the peer it names, if any.
    Returns False once stdin is closed."""
    readable, _, _ = select.select([sys.stdin], [], [], 0.05)
    if not readable:
        return True
    line = sys.stdin.readline()
    if not line:
        return False
    if line.startswith("connect "):
        host, port = line.split()[1].rsplit(":", 1)
        handle.connect_peer((host.strip("[]"), int(port)))
    return True


if __name__ == "__main__":
    main()
