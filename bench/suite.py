"""The test suite's wall times against issue 13's targets (unit ≤ 60 s, warm `make test` ≤ 12 min).

    .venv/bin/python bench/suite.py [--quick]

`--quick` times `make test-unit` alone (no servers); without it, `make test`
too, which sets up and starts the local infrastructure first (warm when its
caches are). Run it with nothing else on the machine; the load average is
printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from bench.common import REPO, log


def _timed(target: str) -> tuple[float, int]:
    log(f"make {target}")
    started = time.monotonic()
    done = subprocess.run(["make", target], cwd=REPO, check=False)
    return time.monotonic() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="make test-unit only")
    args = parser.parse_args()
    figures: dict[str, str] = {}
    unit_s, unit_rc = _timed("test-unit")
    figures |= {"unit_s": f"{unit_s:.0f}", "unit_ok": str(unit_rc == 0).lower()}
    if not args.quick:
        full_s, full_rc = _timed("test")
        figures |= {"make_test_s": f"{full_s:.0f}", "make_test_ok": str(full_rc == 0).lower()}
    figures["load1"] = f"{os.getloadavg()[0]:.2f}"
    print("BENCH suite " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
