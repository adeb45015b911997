#!/usr/bin/python3
"""A libtorrent session with only the DHT, on loopback, for smalltorrent's DHT tests.

  lt_dht_node.py --ip 127.0.0.6 --bootstrap IP:PORT [--magnet URI | --seed TORRENT] DIR

Bootstraps from the given node (and nothing else: no LSD, UPnP, NAT-PMP, trackers) and,
with --magnet, downloads that link into DIR (looking its info-hash up in the DHT and
announcing itself there); with --seed, seeds TORRENT from the data in DIR, announcing it
in the DHT only (its trackers are dropped). Prints `LISTENING <port>` once its sockets are
open, `BOOTSTRAPPED` when its DHT bootstrap is done and, for a --magnet download, `PEER`
once it is connected to a peer, `METADATA` once it has the metadata and `DONE` once it is
complete. Runs until killed (or its parent dies).

Traps on loopback, each of which costs an hour: libtorrent needs an explicit
listen_interfaces on a 127.0.0.x address, dht_restrict_routing_ips and
dht_restrict_search_ips off (else it refuses nodes that share an address block), and the
bootstrap node already up when it starts.
"""

import argparse
import os
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("save_dir")
    ap.add_argument("--ip", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--magnet")
    ap.add_argument("--seed")
    args = ap.parse_args()
    ses = lt.session({
        "listen_interfaces": f"{args.ip}:0",
        "outgoing_interfaces": args.ip,
        "enable_dht": True,
        "dht_bootstrap_nodes": args.bootstrap,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "alert_mask": lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification,
    })
    while ses.listen_port() == 0:
        ses.wait_for_alert(100)
    print(f"LISTENING {ses.listen_port()}", flush=True)
    handle = None
    if args.magnet:
        params = lt.parse_magnet_uri(args.magnet)
        params.save_path = args.save_dir
        handle = ses.add_torrent(params)
    if args.seed:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(args.seed)
        params.trackers = []
        params.save_path = args.save_dir
        params.flags |= lt.torrent_flags.seed_mode
        handle = ses.add_torrent(params)
        handle.replace_trackers([])
    parent = os.getppid()
    done = False
    said = set()  # which of PEER and METADATA were printed
    last_announce = 0.0
    while os.getppid() == parent:
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_bootstrap_alert):
                print("BOOTSTRAPPED", flush=True)
        if handle is not None:
            status = handle.status()
            if args.magnet and status.num_peers > 0 and "PEER" not in said:
                said.add("PEER")
                print("PEER", flush=True)
            if args.magnet and status.has_metadata and "METADATA" not in said:
                said.add("METADATA")
                print("METADATA", flush=True)
            if args.magnet and status.is_seeding and not done:
                done = True
                handle.flush_cache()
                print("DONE", flush=True)
            # libtorrent announces to the DHT on its own schedule: every few seconds here,
            # so a test does not wait for it.
            if time.monotonic() - last_announce > 3:
                last_announce = time.monotonic()
                handle.force_dht_announce()
        # Short waits: a benchmark times PEER, METADATA and DONE from these lines.
        ses.wait_for_alert(50)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
