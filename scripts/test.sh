#!/usr/bin/env bash
# The test command README.md names: installs the real BitTorrent programs the interop tests
# run against, when any is missing, then runs every test with `cargo test`.
#
# The tests talk over loopback only. They need, from Debian's (or Ubuntu's) packages:
#   python3-libtorrent  a libtorrent seeder and leecher (tests/support/lt_*.py)
#   aria2, transmission-cli  the other clients we interoperate with
#   opentracker         a real tracker
#   mktorrent           an independent maker of .torrent files
#   time                /usr/bin/time, for the benchmark's figures
#   tmux                a real terminal, for the live view's test (tests/terminal.rs)
#   lighttpd            a real HTTP server, for the web seed tests (tests/webseed.rs)
#   lighttpd-mod-openssl, openssl  its TLS, and certificates, for an HTTPS tracker
#                       (tests/https_tracker.rs)
# As root they are installed with apt-get; otherwise with sudo, if it works without a
# password prompt; otherwise the script says what to install and stops.
#
# Usage: scripts/test.sh [ARGS...]   (ARGS go to `cargo test`, e.g. `--test corpus`)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-libtorrent aria2 transmission-cli opentracker mktorrent time tmux lighttpd
    lighttpd-mod-openssl openssl)

have_all() {
    command -v opentracker aria2c transmission-cli mktorrent tmux openssl >/dev/null &&
        [ -x /usr/bin/time ] && [ -x /usr/sbin/lighttpd ] &&
        [ -e /usr/lib/lighttpd/mod_openssl.so ] &&
        /usr/bin/python3 -c 'import libtorrent' 2>/dev/null
}

install_packages() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "scripts/test.sh: the tests need these Debian packages:" >&2
            echo "    sudo apt-get install -y ${packages[*]}" >&2
            echo "run that (or this script as root), then run scripts/test.sh again" >&2
            exit 1
        fi
    fi
    echo "--- installing ${packages[*]}"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${packages[@]}"
}

if ! have_all; then
    install_packages
    have_all || { echo "scripts/test.sh: packages installed, but a tool is still missing" >&2; exit 1; }
fi

# --no-fail-fast: a failing test binary does not hide the results of the others.
cargo test --no-fail-fast "$@"
