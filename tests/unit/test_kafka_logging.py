"""What the services log about Kafka: a rebalance's refused commit is routine, not critical."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from herald.shared.runtime.kafka import RebalancedCommit, make_broker
from herald.shared.runtime.settings import Settings


def _log_failed_commit(error: Exception) -> logging.LogRecord:
    """Log as FastStream's acknowledgement middleware does when a commit raises."""
    make_broker(Settings(), "scheduler")
    logger = logging.getLogger("herald.kafka")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        try:
            raise error
        except Exception as raised:
            logger.log(logging.CRITICAL, repr(raised), exc_info=raised)
    finally:
        logger.removeHandler(handler)
    [record] = records
    return record


def test_a_commit_refused_after_a_rebalance_is_a_warning_without_a_traceback() -> None:
    record = _log_failed_commit(CommitFailedError("generation changed"))
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")
    assert record.exc_info is None
    assert "rebalance" in record.getMessage()
    assert "Traceback" not in logging.Formatter().format(record)


@pytest.mark.parametrize("error", [KafkaConnectionError("broker gone"), RuntimeError("bug")])
def test_any_other_failed_commit_stays_critical_with_its_traceback(error: Exception) -> None:
    record = _log_failed_commit(error)
    assert record.levelno == logging.CRITICAL
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert "Traceback" in logging.Formatter().format(record)


def test_brokers_built_again_share_one_filter() -> None:
    for _ in range(3):
        make_broker(Settings(), "mailer")
    filters = logging.getLogger("herald.kafka").filters
    assert len([f for f in filters if isinstance(f, RebalancedCommit)]) == 1
