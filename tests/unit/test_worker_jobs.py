"""A render worker's jobs (`worker.collected`): the garbage collector is off while one runs,
and on again after it, whatever the job did; a worker that left it off would grow forever."""

from __future__ import annotations

import gc

import pytest

from herald.services.renderer.formats.worker import collected


def test_the_collector_is_off_during_a_job_and_on_after_it() -> None:
    during: list[bool] = []

    def job(text: str) -> bytes:
        during.append(gc.isenabled())
        return text.encode()

    assert collected(job, "%PDF") == b"%PDF"
    assert during == [False]
    assert gc.isenabled()


def test_a_failing_job_leaves_the_collector_on() -> None:
    def job() -> bytes:
        raise ValueError("a series has 3 values for 4 categories")

    with pytest.raises(ValueError, match="3 values"):
        collected(job)
    assert gc.isenabled()
