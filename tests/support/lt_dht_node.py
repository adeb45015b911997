#!/usr/bin/python3
"""A libtorrent session with only the DHT, on loopback, for smalltorrent's DHT tests.

  lt_dht_node.py --ip 127.0.0.6 --bootstrap IP:PORT [--magnet URI] SAVE_DIR

Bootstraps from the given node (and nothing else: no LSD, UPnP, NAT-PMP, trackers) and,
with --magnet, adds that link, so libtorrent looks its info-hash up in the DHT and
announces itself there. Prints `LISTENING <port>` once its sockets are open, then
`BOOTSTRAPPED` when its DHT bootstrap is done. Runs until killed (or its parent dies).

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
    if args.magnet:
        params = lt.parse_magnet_uri(args.magnet)
        params.save_path = args.save_dir
        ses.add_torrent(params)
    parent = os.getppid()
    while os.getppid() == parent:
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_bootstrap_alert):
                print("BOOTSTRAPPED", flush=True)
        ses.wait_for_alert(200)
        time.sleep(0.05)


if __name__ == "__main__":
    main()
