"""Peak memory of the current process, for the tests and benchmarks that bound it."""

from __future__ import annotations


def peak_rss_mb() -> float:
    """This process image's own peak RSS (VmHWM).

    Not `getrusage`: on Linux its maxrss survives fork and exec, so a child of a
    large parent (pytest, late in a run) would report the parent's peak.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
