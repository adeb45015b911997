#!/usr/bin/env bash
# The main job on a machine with no internet: a real swarm on loopback, and smalltorrent
# downloading from it.
#
#   1. a payload of SIZE MiB (default 64) and a .torrent for it (mktorrent),
#   2. opentracker on 127.0.0.1 (whitelisting that torrent, as Debian's build requires),
#   3. a libtorrent seeder on 127.0.0.2 (tests/support/lt_seed.py),
#   4. smalltorrent downloads it with its progress display, and the bytes are compared.
#
# Needs: cargo, and the Debian packages opentracker, mktorrent, python3-libtorrent.
# Usage: bash scripts/local-swarm.sh [SIZE_MIB]
set -euo pipefail

size_mib=${1:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in opentracker mktorrent /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y opentracker mktorrent python3-libtorrent" >&2; exit 1; }
done

echo "== building smalltorrent (release)"
(cd "$root" && cargo build --release --quiet)
bin=${CARGO_TARGET_DIR:-$root/target}/release/smalltorrent

echo "== making a ${size_mib} MiB payload and its torrent"
mkdir -p "$work/seed" "$work/download"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/seed/payload.bin"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
announce="http://127.0.0.1:$port/announce"
mktorrent -a "$announce" -l 18 -o "$work/demo.torrent" "$work/seed/payload.bin" >/dev/null
"$bin" info "$work/demo.torrent"

echo "== starting opentracker on 127.0.0.1:$port"
"$bin" info --json "$work/demo.torrent" | sed -n 's/.*"info_hash": "\([0-9a-f]*\)".*/\1/p' > "$work/whitelist"
chmod 755 "$work"; chmod 644 "$work/whitelist"
# Debian's opentracker chroots to -d and reads the whitelist (relative to it) in the background.
(cd "$work" && exec opentracker -i 127.0.0.1 -p "$port" -P "$port" -d "$work" -w whitelist) >"$work/tracker.log" 2>&1 &
pids+=($!)
hash=$(cat "$work/whitelist")
probe="http://127.0.0.1:$port/announce?info_hash=$(echo "$hash" | sed 's/../%&/g')&peer_id=-PROBE-0000000000000&port=1&uploaded=0&downloaded=0&left=0&event=stopped"
/usr/bin/python3 - "$probe" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        if b"complete" in urllib.request.urlopen(sys.argv[1], timeout=1).read():
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("opentracker did not accept the torrent")
PY

echo "== starting a libtorrent seeder on 127.0.0.2"
/usr/bin/python3 "$root/tests/support/lt_seed.py" "$work/demo.torrent" "$work/seed" --ip 127.0.0.2 >"$work/seeder.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q SEEDING "$work/seeder.log" && break; sleep 0.1; done
grep -q SEEDING "$work/seeder.log" || { echo "the seeder did not start:" >&2; cat "$work/seeder.log" >&2; exit 1; }

echo "== smalltorrent downloads it"
RUST_LOG=${RUST_LOG:-info} "$bin" "$work/demo.torrent" -d "$work/download" --no-dht

cmp "$work/seed/payload.bin" "$work/download/payload.bin"
echo "== the downloaded bytes are identical to the seeder's"
