#!/usr/bin/env bash
# Loopback benchmark of smalltorrent against aria2c, transmission-cli, libtorrent (and rqbit
# if installed), the floor work of a download (examples/pipeline_floor.rs), a swarm of
# smalltorrents and a seeder with many peers. CI runs `bench/loopback.sh --short`.
#
# The benchmark itself is bench/loopback.py, run with the Debian python that has the
# libtorrent binding; its header documents every section and option (also: --help).
set -euo pipefail
PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 "$(dirname "$0")/loopback.py" "$@"
