"""`deploy/local/infra`'s `pid_alive`: a pid file left by a service that died names a pid the
system may have given to another process, or to a thread, and neither is the service."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

from tests.infra import REPO

INFRA = REPO / "deploy" / "local" / "infra"


def _pid_alive(pidfile: Path) -> bool:
    """The script's own function, run on its own."""
    found = re.search(r"^pid_alive\(\) \{.*?^\}$", INFRA.read_text(), re.MULTILINE | re.DOTALL)
    assert found, "pid_alive is gone from deploy/local/infra"
    done = subprocess.run(["bash", "-c", f'{found.group(0)}\npid_alive "$1"', "-", str(pidfile)])
    return done.returncode == 0


def test_a_pid_file_names_its_service_only_while_that_program_runs_under_the_pid(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "service.pid"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pidfile.write_text(f"{sleeper.pid}\nsleep\n")
        assert _pid_alive(pidfile)
        pidfile.write_text(f"{sleeper.pid}\n/usr/local/bin/another-program\n")
        assert not _pid_alive(pidfile), "the pid went to another program"
        pidfile.write_text(f"{sleeper.pid}\n")
        assert _pid_alive(pidfile), "a file from before the program was kept: the pid alone"
    finally:
        sleeper.kill()
        sleeper.wait()
    pidfile.write_text(f"{sleeper.pid}\nsleep\n")
    assert not _pid_alive(pidfile), "gone"
    assert not _pid_alive(tmp_path / "never.pid")


def test_a_thread_s_id_is_not_a_service_s_pid(tmp_path: Path) -> None:
    """`kill -0` answers for a thread's id: a file naming one was taken for a live service."""
    pidfile = tmp_path / "service.pid"
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert thread.native_id is not None
        pidfile.write_text(f"{thread.native_id}\n")
        assert subprocess.run(["kill", "-0", str(thread.native_id)]).returncode == 0
        assert not _pid_alive(pidfile)
    finally:
        stop.set()
        thread.join()
