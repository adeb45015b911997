"""Holds back the virtual machine's free page reporting while the benchmark runs, so that
every client's page cache costs the same.

On these machines (Firecracker guests with a virtio balloon) the kernel reports free
memory to the host as soon as it is free (`page_reporting.min_free_ms` = 0), and the host
takes it back. The next time the guest uses such a page (for the page cache of a download,
say) the host has to fault it in again: measured here, writing 1 GiB with `pwrite` into a
new file cost 1.1-1.6 CPU-s in the first runs and 0.3-0.4 CPU-s in the runs after, same
program, same file. Which client met reported pages was luck: a download's CPU time
moved by a whole second from run to run. A Raspberry Pi or a container on bare metal
has no balloon, and pays the fast figure.

So, while the benchmark runs: free pages wait `HOLD_MS` before they are reported, and
before the first run we touch and free as much memory as the runs will use, so every
client starts on memory the host already backs. The setting is put back at the end.
Without the parameter (another kernel) or the right to write it, nothing changes and
the report says so.
"""

import os

PARAMETER = "/sys/module/page_reporting/parameters/min_free_ms"
HOLD_MS = 300_000  # five minutes (this kernel refuses 500 000 and up)


class FreePages:
    """Context manager: hold reporting back and warm `warm_bytes` of memory."""

    def __init__(self, warm_bytes):
        self.warm_bytes = warm_bytes
        self.saved = None
        self.note = ""

    def __enter__(self):
        try:
            with open(PARAMETER) as f:
                self.saved = f.read().strip()
            with open(PARAMETER, "w") as f:
                f.write(str(HOLD_MS))
        except OSError:
            self.saved = None
            self.note = ("Free page reporting: not adjustable here; CPU figures may include "
                         "the host faulting guest memory back in (bench/vm.py).")
            return self
        warm(self.warm_bytes)
        self.note = (f"Free page reporting held back during the run (min_free_ms "
                     f"{self.saved} -> {HOLD_MS}) and {self.warm_bytes >> 20} MiB warmed "
                     f"first, so no client pays for the host backing guest memory again "
                     f"(bench/vm.py).")
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            try:
                with open(PARAMETER, "w") as f:
                    f.write(self.saved)
            except OSError:
                pass
        return False


def warm(nbytes):
    """Touches `nbytes` of fresh memory, a page at a time, then frees it."""
    block = bytearray(nbytes)  # calloc'd: mapped, not yet touched
    for at in range(0, nbytes, 4096):
        block[at] = 1
    del block
