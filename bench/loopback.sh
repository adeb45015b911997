#!/usr/bin/env bash
# Loopback benchmark through opentracker, clients taking turns (A B C A B C ...) so all see
# the same machine:
#   download: smalltorrent, aria2c and libtorrent (python3-libtorrent) each fetch the torrent
#             from one libtorrent seeder; wall time, CPU, max RSS and peak RssAnon (private
#             memory, sampled every 20 ms);
#   upload:   aria2c fetches it from a smalltorrent seeder, then from a libtorrent seeder.
#
#   bench/loopback.sh [--size MiB] [--rounds N] [--piece-log2 N] [--short] [--out FILE]
#
# Defaults: 256 MiB single file, 256 KiB pieces (--piece-log2 18), 3 rounds.
# --short: 16 MiB, 1 round, and exit non-zero if any client failed (for CI).
# --out FILE: also append the result table to FILE.
# Needs opentracker, mktorrent, aria2c, /usr/bin/time (Debian "time"), python3-libtorrent.
# Builds smalltorrent with `cargo build --release` (honours CARGO_TARGET_DIR); with
# SMALLTORRENT_BIN=PROGRAM it times that program instead (same command line).
set -euo pipefail

size_mib=256 rounds=3 piece_log2=18 short=0 out_file=""
while [ $# -gt 0 ]; do
    case $1 in
    --size) size_mib=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --piece-log2) piece_log2=$2; shift 2 ;;
    --short) short=1; size_mib=16; rounds=1; shift ;;
    --out) out_file=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ {print substr($0, 3)} NR > 1 && !/^#/ {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3 # the Debian python with the libtorrent binding
target_dir=${CARGO_TARGET_DIR:-$root/target}
if [[ $target_dir != /* ]]; then target_dir=$root/$target_dir; fi

if [ -n "${SMALLTORRENT_BIN:-}" ]; then
    smalltorrent=$SMALLTORRENT_BIN # another program in its place, to check this script
else
    echo "building smalltorrent (release)..." >&2
    (cd "$root" && cargo build --release --quiet)
    smalltorrent=$target_dir/release/smalltorrent
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- payload, torrent, tracker, seeder -------------------------------------------------
size=$((size_mib * 1024 * 1024))
mkdir -p "$work/data"
head -c "$size" /dev/urandom >"$work/data/payload.bin"

tracker_port=$(free_port)
mktorrent -a "http://127.0.0.1:$tracker_port/announce" -l "$piece_log2" \
    -o "$work/bench.torrent" "$work/data/payload.bin" >/dev/null
info_hash=$("$python" -c 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hash())' "$work/bench.torrent")

# Debian's opentracker only serves whitelisted info-hashes; started as root it chroots to -d
# and runs as "nobody", so the whitelist must be world-readable and named relative to -d.
mkdir -m 755 "$work/tracker"
echo "$info_hash" >"$work/tracker/whitelist"
chmod 644 "$work/tracker/whitelist"
(cd "$work/tracker" && exec opentracker -i 127.0.0.1 -p "$tracker_port" -P "$tracker_port" \
    -d "$work/tracker" -w whitelist) >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$tracker_port") 2>/dev/null && break
    sleep 0.1
done

"$python" "$root/tests/support/lt_seed.py" "$work/bench.torrent" "$work/data" --ip 127.0.0.2 \
    >"$work/seeder.out" 2>"$work/seeder.err" &
pids+=($!)
for _ in $(seq 600); do
    grep -q SEEDING "$work/seeder.out" && break
    sleep 0.1
done
grep -q SEEDING "$work/seeder.out" || { echo "libtorrent seeder did not start:" >&2; cat "$work/seeder.err" >&2; exit 1; }
download_seeder=$!

# --- the clients ------------------------------------------------------------------------
clients=(smalltorrent aria2 libtorrent)

# Sets cmd to the command line downloading the torrent with client $1 into dir $2.
client_command() {
    case $1 in
    smalltorrent) cmd=("$smalltorrent" "$work/bench.torrent" -d "$2" -q) ;;
    aria2)
        cmd=(aria2c --seed-time=0 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false
            --enable-peer-exchange=false --file-allocation=none --console-log-level=error
            --summary-interval=0 --quiet=true --listen-port="$(free_port)" -d "$2" "$work/bench.torrent")
        ;;
    libtorrent) cmd=("$python" "$root/tests/support/lt_leech.py" "$work/bench.torrent" "$2" --ip 127.0.0.6) ;;
    esac
}

# Runs "$@" under /usr/bin/time, sampling the client's private memory (RssAnon) every 20 ms;
# writes "wall user sys maxrss_kib" to $work/time and the peak RssAnon (KiB) to $work/anon.
timed() {
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" timeout 900 "$@" &
    local time_pid=$! peak=0 pid anon
    while kill -0 "$time_pid" 2>/dev/null; do
        # time -> timeout -> the client
        pid=$(pgrep -P "$(pgrep -P "$time_pid" | head -n 1)" 2>/dev/null | head -n 1)
        anon=$(awk '/^RssAnon/ {print $2}' "/proc/${pid:-0}/status" 2>/dev/null)
        if [ -n "$anon" ] && [ "$anon" -gt "$peak" ]; then peak=$anon; fi
        sleep 0.02
    done
    echo "$peak" >"$work/anon"
    wait "$time_pid"
}

# One measured download, process start to exit: prints "wall_s cpu_s maxrss_kib
# rssanon_kib", or FAILED.
measure() {
    local client=$1 dest=$work/out-$1-$2 cmd
    mkdir -p "$dest"
    client_command "$client" "$dest"
    if timed "${cmd[@]}" >"$work/$client.log" 2>&1 &&
        cmp -s "$work/data/payload.bin" "$dest/payload.bin"; then
        awk -v anon="$(cat "$work/anon")" '{printf "%s %.2f %s %s\n", $1, $2 + $3, $4, anon}' "$work/time"
    else
        echo "  $client round $2 FAILED (exit status or bytes differ); last output:" >&2
        tail -n 5 "$work/$client.log" >&2
        echo FAILED
    fi
    rm -rf "$dest"
}

declare -A results
failed=""
for round in $(seq "$rounds"); do
    for client in "${clients[@]}"; do
        r=$(measure "$client" "$round")
        echo "round $round $client: $r" >&2
        if [ "$r" = FAILED ]; then
            failed+=" $client"
        else
            results[$client]+="$r"$'\n'
        fi
    done
done

# --- report -----------------------------------------------------------------------------
median() { sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
declare -A wall cpu rss anon
table=$(
    echo "Loopback download of ${size_mib} MiB ($((1 << (piece_log2 - 10))) KiB pieces) from one libtorrent seeder, median of $rounds round(s), $(date -u +%F) on $(nproc) cores, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo
    echo "| client | ok runs | wall s | MB/s | CPU s (user+sys) | max RSS MiB | peak RssAnon MiB |"
    echo "|---|---|---|---|---|---|---|"
    for client in "${clients[@]}"; do
        ok=$(printf '%s' "${results[$client]:-}" | grep -c . || true)
        if [ "$ok" -eq 0 ]; then
            echo "| $client | 0/$rounds | FAILED | | | | |"
            continue
        fi
        wall[$client]=$(printf '%s' "${results[$client]}" | awk '{print $1}' | median)
        cpu[$client]=$(printf '%s' "${results[$client]}" | awk '{print $2}' | median)
        rss[$client]=$(printf '%s' "${results[$client]}" | awk '{print $3}' | median)
        anon[$client]=$(printf '%s' "${results[$client]}" | awk '{print $4}' | median)
        awk -v c="$client" -v ok="$ok/$rounds" -v w="${wall[$client]}" -v cpu="${cpu[$client]}" -v rss="${rss[$client]}" -v anon="${anon[$client]}" -v bytes="$size" \
            'BEGIN {printf "| %s | %s | %.2f | %.1f | %.2f | %.1f | %.1f |\n", c, ok, w, (w > 0 ? bytes / 1e6 / w : 0), cpu, rss / 1024, anon / 1024}'
    done
    echo
    for other in "${clients[@]}"; do
        [ "$other" = smalltorrent ] && continue
        if [ -n "${wall[smalltorrent]:-}" ] && [ -n "${wall[$other]:-}" ]; then
            awk -v o="$other" -v w1="${wall[smalltorrent]}" -v w2="${wall[$other]}" -v c1="${cpu[smalltorrent]}" -v c2="${cpu[$other]}" -v a1="${anon[smalltorrent]}" -v a2="${anon[$other]}" \
                'function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
                 BEGIN {printf "smalltorrent / %s: MB/s %s, CPU %s, peak RssAnon %s\n", o, ratio(w2, w1), ratio(c1, c2), ratio(a1, a2)}'
        fi
    done
)
echo "$table"
if [ -n "$out_file" ]; then
    printf '%s\n\n' "$table" >>"$out_file"
fi

# --- upload: aria2c downloading from a smalltorrent seeder, then from a libtorrent one ------
kill "$download_seeder" 2>/dev/null || true
wait "$download_seeder" 2>/dev/null || true

# Starts seeder $1 and waits until it serves; sets seeder_pid.
start_seeder() {
    case $1 in
    smalltorrent)
        "$smalltorrent" "$work/bench.torrent" -s "$work/data" --bind 127.0.0.4 --port 0 -q \
            >"$work/up-seeder.log" 2>&1 &
        seeder_pid=$!
        for _ in $(seq 600); do grep -q "listening on" "$work/up-seeder.log" && break; sleep 0.1; done
        sleep 1 # its first announce
        ;;
    libtorrent)
        "$python" "$root/tests/support/lt_seed.py" "$work/bench.torrent" "$work/data" --ip 127.0.0.5 \
            >"$work/up-seeder.log" 2>&1 &
        seeder_pid=$!
        for _ in $(seq 600); do grep -q SEEDING "$work/up-seeder.log" && break; sleep 0.1; done
        ;;
    esac
}

declare -A uploads
for round in $(seq "$rounds"); do
    for seeder in smalltorrent libtorrent; do
        start_seeder "$seeder"
        r=$(measure aria2 "up-$seeder-$round")
        kill -INT "$seeder_pid" 2>/dev/null || true
        wait "$seeder_pid" 2>/dev/null || true
        echo "round $round aria2 from $seeder: $r" >&2
        if [ "$r" = FAILED ]; then
            failed+=" upload-from-$seeder"
        else
            uploads[$seeder]+="$r"$'\n'
        fi
    done
done
upload_table=$(
    echo "Upload: aria2c downloading the same ${size_mib} MiB from one seeder, median of $rounds round(s)"
    echo
    echo "| seeder | ok runs | aria2c wall s | MB/s |"
    echo "|---|---|---|---|"
    declare -A up_wall
    for seeder in smalltorrent libtorrent; do
        ok=$(printf '%s' "${uploads[$seeder]:-}" | grep -c . || true)
        if [ "$ok" -eq 0 ]; then
            echo "| $seeder | 0/$rounds | FAILED | |"
            continue
        fi
        up_wall[$seeder]=$(printf '%s' "${uploads[$seeder]}" | awk '{print $1}' | median)
        awk -v s="$seeder" -v ok="$ok/$rounds" -v w="${up_wall[$seeder]}" -v bytes="$size" \
            'BEGIN {printf "| %s | %s | %.2f | %.1f |\n", s, ok, w, (w > 0 ? bytes / 1e6 / w : 0)}'
    done
    if [ -n "${up_wall[smalltorrent]:-}" ] && [ -n "${up_wall[libtorrent]:-}" ]; then
        awk -v a="${up_wall[smalltorrent]}" -v b="${up_wall[libtorrent]}" \
            'BEGIN {printf "\naria2c from smalltorrent / from libtorrent: MB/s %.2f (above 1 = smalltorrent serves faster)\n", b / a}'
    fi
)
echo
echo "$upload_table"
if [ -n "$out_file" ]; then
    printf '%s\n\n' "$upload_table" >>"$out_file"
fi

if [ "$short" = 1 ] && [ -n "$failed" ]; then
    echo "failed runs:$failed" >&2
    exit 1
fi
