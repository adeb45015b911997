#!/usr/bin/python3
"""The saver's write pattern without the client: fill a fresh, fallocated file through a
shared map in 256 KiB pieces in random order, and report the time and page faults.

  bench/map_fill.py [--huge] [--in-order] [--size MiB] [--dir DIR]

--huge advises MADV_HUGEPAGE first, as smalltorrent's storage did while it wrote through
the map (until 2026-12-04, see BENCHMARKS.md); --in-order writes the pieces in order, as the floor
does. Run it twice in a row and then after a pause of 15 s to see warm and cold memory:
on a VM whose balloon reports free pages, 2 MiB folios are made from blocks the host has
taken back, and zeroing them costs a fault in the host per 4 KiB (BENCHMARKS.md, session 4).
"""

import argparse
import mmap
import os
import random
import resource
import tempfile
import time

PIECE = 256 * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--huge", action="store_true", help="advise MADV_HUGEPAGE")
    ap.add_argument("--in-order", action="store_true", help="write the pieces in order")
    ap.add_argument("--size", type=int, default=1024, help="MiB to write")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the file goes")
    args = ap.parse_args()

    size = args.size << 20
    with tempfile.NamedTemporaryFile(dir=args.dir) as f:
        os.posix_fallocate(f.fileno(), 0, size)
        with mmap.mmap(f.fileno(), size) as m:
            if args.huge:
                m.madvise(mmap.MADV_HUGEPAGE)
            piece = os.urandom(PIECE)
            offsets = list(range(0, size, PIECE))
            if not args.in_order:
                random.shuffle(offsets)
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            for at in offsets:
                m[at:at + PIECE] = piece
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{'huge' if args.huge else 'default'} pages, {'in order' if args.in_order else 'random order'}: "
          f"{wall:.3f} s, user {after.ru_utime - before.ru_utime:.3f} s, "
          f"sys {after.ru_stime - before.ru_stime:.3f} s, "
          f"{after.ru_minflt - before.ru_minflt} minor faults")


if __name__ == "__main__":
    main()
