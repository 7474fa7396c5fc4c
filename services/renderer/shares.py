"""Shared renders: runs that would produce the same artifact get one render.

Ten thousand schedules due at 08:00 ask for far fewer distinct reports: the
same tenant, report, filters, window and format give the same bytes. The
share key is the sha256 of a canonical JSON of everything that shapes the
artifact (`share_key`, pure). The first run renders under its own artifact
ids as always and then records `render_shares[key] -> artifact_id`
(`insert_one`: the first writer wins); a later run with the same key
publishes that artifact instead of reading the data again. A share older than
`share_ttl_s` is not reused (late calls may have arrived since), nor is one
whose artifact is gone. Within one renderer, identical runs handled at once
wait on the one render in flight (`InFlight`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from herald.services.renderer.formats.registry import FORMATS
from herald.services.renderer.ports import Complete
from herald.services.renderer.reports.custom_store import CUSTOM_REPORTS
from herald.shared.contract.messages import RunDetails
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.ports import Artifacts
from herald.shared.runs.brand import Brand, environment_brand
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import expiry_fields
from herald.shared.runtime.settings import Settings

SHARES: Final = "render_shares"
#: Part of every key: bump it when a change to the renderer changes its output
#: (2: charts, headline tiles and inline images; 3: filters named, in the PDF and email;
#: 4: the report's notes, in the email).
KEY_VERSION: Final = 4
#: When a share was recorded, and that day: what it expires by (retention).
RECORDED_AT: Final = "recorded_at"
RECORDED_DAY: Final = "day"
#: Shares remembered in memory at most (one per distinct render within the TTL).
_KNOWN_MAX: Final = 10_000

T = TypeVar("T")


def _instant(value: datetime) -> str:
    """One spelling per instant, whatever offset the window was written with."""
    return value.astimezone(UTC).isoformat()


def share_key(
    tenant_id: str,
    run: RunDetails,
    settings: Settings,
    definition: str | None = None,
    brand: Brand | None = None,
    compliance: TenantCompliance | None = None,
) -> str | None:
    """The artifact's content key; None when the run must render on its own.

    `definition` is the saved custom report's version (its `updated_at`): a
    custom report whose version is unknown is never shared, nor is the SMTP
    test report (it shows its run id). Filters keep their order: the PDF's
    heading and platform link show them as written. A tenant's compliance
    settings (what its abandon rates are flagged against) count when it has any.
    """
    report = run.report
    if report.kind == "test" or (report.kind == "custom" and definition is None):
        return None
    renderer, reports = settings.renderer, settings.reports
    shaping: dict[str, Any] = {
        "v": KEY_VERSION,
        "tenant": tenant_id,
        "report": {"kind": report.kind, "id": report.id, "definition": definition},
        "filters": run.filters.model_dump(mode="json"),
        "window": {
            "start": _instant(run.window.start),
            "end": _instant(run.window.end),
            "timezone": run.window.timezone,
        },
        "format": run.format.value,
        "skip_if_empty": run.skip_if_empty,
        "data": {
            "source": reports.source.value,
            "http_url": reports.http.url,
            "zone": settings.data_zone.key,
            "rollups": reports.use_rollups,
        },
    }
    fmt = FORMATS[run.format]
    if fmt.layout is not None:
        shaping["cap"] = fmt.layout.cap(renderer)
    if fmt.branded:
        shaping["branding"] = (brand or environment_brand(settings.branding)).shaping()
    if compliance is not None and compliance != TenantCompliance():
        shaping["compliance"] = compliance.model_dump(mode="json")
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def complete(artifacts: Artifacts, artifact_id: str) -> Complete | None:
    """The artifact and its companions, or None when any of them is missing."""
    artifact = await artifacts.find(artifact_id)
    if artifact is None:
        return None
    companions = []
    for companion_id in artifact.metadata.get("companions", []):
        companion = await artifacts.find(companion_id)
        if companion is None:
            return None  # half of an older render
        companions.append(companion)
    return Complete(artifact, tuple(companions))


class ShareStore:
    """The `render_shares` collection: content key -> the artifact first rendered for it."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        artifacts: Artifacts,
        ttl_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._shares = db[SHARES]
        self._definitions = db[CUSTOM_REPORTS]
        self._artifacts = artifacts
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        #: Shares found here before, by key, with when they were recorded: a herd of
        #: identical runs then costs no query each (artifacts outlive the TTL).
        self._known: dict[str, tuple[datetime, Complete]] = {}

    async def definition(self, tenant_id: str, report_id: str) -> str | None:
        """A saved custom report's version (when it was last saved); None if there is none."""
        doc = await self._definitions.find_one(
            {"_id": f"{tenant_id}/{report_id}"}, {"updated_at": 1}
        )
        updated = None if doc is None else doc.get("updated_at")
        return _instant(updated) if isinstance(updated, datetime) else None

    async def find(self, key: str) -> Complete | None:
        """The shared render, if recent and complete; an unusable record is removed."""
        oldest = self._clock() - self._ttl
        known = self._known.get(key)
        if known is not None and known[0] > oldest:
            return known[1]
        doc = await self._shares.find_one({"_id": key})
        if doc is None:
            return None
        recorded = doc.get("recorded_at")
        fresh = isinstance(recorded, datetime) and recorded > oldest
        found = await complete(self._artifacts, str(doc["artifact_id"])) if fresh else None
        if found is None:
            # Only that record: another run may have replaced it meanwhile.
            await self._shares.delete_one({"_id": key, "artifact_id": doc["artifact_id"]})
            return None
        assert isinstance(recorded, datetime)
        self._remember(key, recorded, found, oldest)
        return found

    def _remember(self, key: str, recorded: datetime, found: Complete, oldest: datetime) -> None:
        if len(self._known) >= _KNOWN_MAX:
            self._known = {k: v for k, v in self._known.items() if v[0] > oldest}
        if len(self._known) < _KNOWN_MAX:
            self._known[key] = (recorded, found)

    async def record(self, key: str, tenant_id: str, run_id: str, artifact_id: str) -> bool:
        """Offer a fresh render for sharing; False when another run recorded one first."""
        doc = {
            "_id": key,
            "artifact_id": artifact_id,
            "tenant_id": tenant_id,
            "run_id": run_id,
        } | expiry_fields(RECORDED_AT, RECORDED_DAY, self._clock())
        try:
            await self._shares.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True


class InFlight(Generic[T]):
    """Identical work started while the same key is in flight waits for that one result.

    A leader's failure is not shared: its waiters get None and do the work themselves.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[T | None]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """`work()`'s result, or the one in flight for `key`; True when it was waited for."""
        while (running := self._running.get(key)) is not None:
            result = await asyncio.shield(running)
            if result is not None:
                return result, True
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await work()
        except BaseException:
            future.set_result(None)
            raise
        else:
            future.set_result(result)
        finally:
            del self._running[key]
        return result, False
