#!/bin/sh
# Stands in for smalltorrent (same command line: FILE.torrent -d DIR [-q]) by running aria2c,
# to check that the acceptance tests pass with a known-good client:
#   SMALLTORRENT_BIN=$PWD/tests/support/aria2_as_smalltorrent.sh cargo test --test download_interop
set -eu
torrent=$1
shift
dir=.
while [ $# -gt 0 ]; do
    case $1 in
    -d) dir=$2; shift 2 ;;
    *) shift ;;
    esac
done
exec aria2c --seed-time=0 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --console-log-level=error --summary-interval=0 \
    --quiet=true --listen-port=$((40000 + $$ % 20000)) -d "$dir" "$torrent"
