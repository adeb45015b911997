"""Processes the benchmark starts, and what /proc says about them.

Every process goes through `Processes.start`, so that `Processes.stop_all` can stop each
one (by its pid) when the benchmark ends, fails or is interrupted; each is also started
with PR_SET_PDEATHSIG, so it is killed even if the benchmark itself is SIGKILLed (all but
opentracker: dropping root clears that setting).

`measure` runs one client and samples it every 20 ms until it is done.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

SAMPLE_INTERVAL = 0.02
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it when the benchmark dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Processes:
    """Every process started by the benchmark, so all are stopped on exit."""

    def __init__(self):
        self.running = []

    def start(self, cmd, log_path, stdin=subprocess.DEVNULL, env=None, cwd=None):
        """Starts `cmd` with stdout and stderr going to `log_path`."""
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(c) for c in cmd], stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=cwd, preexec_fn=_die_with_parent,
            )
        self.running.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, grace=15):
        """Sends `sig` (unless None: already sent) and waits up to `grace` seconds, then
        SIGKILLs. Returns the exit status."""
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc in self.running:
            self.running.remove(proc)
        return proc.returncode

    def stop_all(self):
        """SIGTERM to everything still running, then SIGKILL what is left after 5 s."""
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.running.clear()


@dataclass
class Run:
    """One measured run of a client."""

    wall: float  # seconds from process start to done
    cpu: float  # user + system seconds of the process (all its threads)
    # Peak resident memory (VmHWM, private memory and mapped file pages), as last read
    # from /proc before the process ended. Not wait4's ru_maxrss: Linux carries that over
    # exec from the process that forked, so every client would show at least the
    # benchmark's own Python (32.8 MiB here; /bin/true forked by a 110 MiB Python reports
    # 110 MiB).
    max_rss_kib: int
    peak_anon_kib: int  # peak private memory (RssAnon), sampled every 20 ms
    waited: float  # seconds before its first data, for clients that say (else 0)
    minor_faults: int = 0  # page faults served without I/O (all its threads)

    def mbps(self, payload):
        return payload / 1e6 / self.wall if self.wall > 0 else 0.0

    def mbps_after_wait(self, payload):
        """The rate from its first block on; None if that took under a second (too short
        to time from a status line)."""
        moving = self.wall - self.waited
        return payload / 1e6 / moving if moving >= 1 else None


def read_status(pid):
    """/proc/PID/status as {field: first value} (KiB for the memory fields)."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                parts = value.split()
                if parts and parts[0].isdigit():
                    fields[key] = int(parts[0])
    except OSError:
        pass
    return fields


def cpu_seconds(pid):
    """User + system CPU seconds of every thread of `pid` so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError):
        return 0.0


def minor_faults(pid):
    """Minor page faults of every thread of `pid` so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return 0


class Failed(Exception):
    """A measured client failed; the message says how."""


def measure(procs, client, log_path, timeout=900, stall=30):
    """Runs `client` (a clients.Leecher) until it exits, or until `client.done()` is true
    (then stops it), sampling it every 20 ms.

    `client.tick()`, if set, is called at every sample (to dial it once it listens, say);
    `client.first_data()`, if set, says whether data has started to arrive. Returns a Run;
    raises Failed if it exits with an error, runs past `timeout` seconds, or, once data
    flows, its `client.progress()` stays the same for `stall` seconds."""
    started = time.monotonic()
    proc = procs.start(client.command, log_path, env=client.env)
    try:
        return _sample_until_done(proc, client, started, timeout, stall)
    finally:
        procs.stop(proc)  # unless it has exited already


def _sample_until_done(proc, client, started, timeout, stall):
    peak_anon = peak_hwm = 0
    first_data_at = None
    last_progress, progress_at = None, started
    while True:
        now = time.monotonic()
        status = read_status(proc.pid)
        peak_anon = max(peak_anon, status.get("RssAnon", 0))
        peak_hwm = max(peak_hwm, status.get("VmHWM", 0))
        if first_data_at is None and client.first_data is not None and client.first_data():
            first_data_at = now
        if client.progress is not None and (first_data_at is None or client.progress() != last_progress):
            last_progress, progress_at = client.progress(), now  # the stall clock starts with the data
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            if proc.returncode != 0:
                raise Failed(f"exit status {proc.returncode}")
            # VmHWM only grows: the last reading misses at most the final 20 ms.
            cpu, hwm = usage.ru_utime + usage.ru_stime, peak_hwm or usage.ru_maxrss
            faults = usage.ru_minflt
            break
        if client.done is not None and client.done():
            cpu, hwm = cpu_seconds(proc.pid), status.get("VmHWM", 0)
            faults = minor_faults(proc.pid)
            break
        if now - started > timeout:
            raise Failed(f"not done after {timeout} s")
        if client.progress is not None and now - progress_at > stall:
            raise Failed(f"stalled: no progress for {stall} s")
        if client.tick is not None:
            client.tick()
        time.sleep(SAMPLE_INTERVAL)
    waited = first_data_at - started if first_data_at is not None else 0.0
    return Run(now - started, cpu, hwm, peak_anon, waited, faults)


def wait_until(predicate, timeout, what):
    """Polls `predicate` every 50 ms; raises Failed naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def tail(path, size=4096):
    """The last `size` bytes of the file at `path` (b"" if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read()
    except OSError:
        return b""


def last_lines(path, count=8):
    """The last `count` non-empty lines of a log, indented; progress redraws (\\r) split."""
    text = tail(path, 16384).decode(errors="replace").replace("\r", "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-count:])


def log_has(path, text):
    """True once the file at `path` contains `text`."""
    try:
        with open(path, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def free_port(ip="127.0.0.1"):
    """A TCP port free on `ip` just now (for clients that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def listening_ports_on(ip):
    """(ip, port) of every TCP socket listening on `ip`, whichever process owns it."""
    return [addr for addr, _ in _listening() if addr[0] == ip]


def listening_ports(pid):
    """(ip, port) of every TCP socket process `pid` listens on (IPv4)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return []
    return [addr for addr, inode in _listening() if inode in inodes]


def _listening():
    """((ip, port), socket inode) of every IPv4 TCP socket in state LISTEN."""
    found = []
    with open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            cols = row.split()
            if cols[3] == "0A":
                ip_hex, port_hex = cols[1].split(":")
                ip = socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1])
                found.append(((ip, int(port_hex, 16)), cols[9]))
    return found
