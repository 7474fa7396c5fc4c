"""Memory of a process, and the memory budgets the tests hold Herald's processes to."""

from __future__ import annotations

#: What the renderer's memory limit gives its service process, and each of its PDF workers
#: (docs/operations.md "Sizing"): a worker's peak printing the largest PDFs Herald asks
#: for must fit in its share (`tests/integration/test_pdf_pool.py`), and the manifests'
#: limits must hold the sum (`tests/unit/test_k8s_manifests.py`).
RENDERER_SERVICE_MIB = 512
PDF_WORKER_MIB = 512


def peak_rss_mb(pid: int | None = None) -> float:
    """A process image's own peak RSS (VmHWM); this process's by default.

    Not `getrusage`: on Linux its maxrss survives fork and exec, so a child of a
    large parent (pytest, late in a run) would report the parent's peak.
    """
    return _status_mib("VmHWM", pid)


def rss_mb(pid: int | None = None) -> float:
    """A process's resident memory now (VmRSS); this process's by default."""
    return _status_mib("VmRSS", pid)


def _status_mib(field: str, pid: int | None) -> float:
    """A memory field of /proc/<pid>/status, which Linux gives in KiB, in MiB."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path, encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in {path}")
