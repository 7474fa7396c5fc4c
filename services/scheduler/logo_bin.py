"""Tenants' logos no settings name: marked, put in the bin, purged; never removed while named.

A logo (`brand_assets`, `logo-<sha256>`, one GridFS upload with its own
`attempt` id) goes through three states, each the scheduler's clean-up pass
moving it on (`sweep_logos`):

1. *marked*: a pass found no tenant naming it (`metadata.unused_since`);
2. *in the bin*: a pass found it still unnamed `keep` (`LOGOS_DAYS`) after
   the mark, and inserted a *trash mark* for that upload (`logo_trash`, a
   document of its own with a fresh id). Its files document and chunks stay:
   readers still read it;
3. *purged*: a pass at least `grace` (a pass interval) after the trash mark
   found it still unnamed and won the mark's *verdict* (`logo_verdicts`,
   `_id` = the mark's id, inserted once: `purge` or `keep`); it removes that
   upload (chunks, then files document; an upload stored under the id since
   stays), then the mark, then the verdict.

A command that names the logo runs `keep_logo` before its settings are saved
and again after (and again when a redelivery is answered from the outbox):
it reads the logo's trash marks, *then* its files document; for each mark of
the stored upload it inserts the verdict `keep`; it clears `unused_since`
(a logo named again restarts its clock), and reads the files document again.
Missing, or doomed (the mark's verdict is `purge` and the mark still stands),
it uploads a fresh copy (removing the doomed upload first: the purge, which
anyone may finish, is final), and checks again.

Why no named logo is ever purged, with FerretDB 1.x (no atomic conditional
update: a filtered update is a read, a filter in Go and a write) and a crash
anywhere. Only insert-unique and delete-by-`_id` decide anything: marks and
verdicts are inserted once and deleted by `_id`, never updated; the purge is
decided by inserting a verdict, which one writer wins. A mark id is never
reused, so a mark gone never comes back. A mark is deleted only once its
verdict exists, and for `purge` only once the upload is removed; a verdict
is deleted only once its mark is gone. So a `purge` verdict whose mark still
stands after it was inserted is *final* (everyone who looks agrees, and the
removal is finished by whoever comes next, after any crash); one inserted
after its mark was gone (a pass that stalled) is *void* and only deleted.

- A pass decides `purge` after reading the mark and then the tenants, and
  finding none naming the logo. A command saves its settings, then reads the
  marks. Either the pass's read of the tenants follows the save (it finds
  the logo named and decides `keep`), or the command's read of the marks
  follows the pass's (it finds the mark: it inserts `keep` first, and the
  pass loses; or it finds `purge` and uploads a fresh copy before it
  publishes anything). A mark inserted after the command's read is looked at
  (tenants read) after the save: `keep`. A command that finds no mark and the
  upload stored reads after any purge's removal would have shown it missing.
- Commands of other tenants naming the same logo go the same way, and each
  publishes only after its own check, so no published settings name a logo
  being purged; readers (renderer, mailer) meet a missing logo only if they
  lag `tenant.settings` by more than `keep` plus `grace` (the retention's
  premise). A verdict `keep`, not a fresh upload, answers an unsettled mark,
  so a logo other tenants are reading is never removed and stored again.
- Crashes: a pass cut short leaves a mark (settled by a later pass), a
  verdict (`purge` with its mark: the removal is finished by a later pass,
  the named or not; `keep`: the mark is dropped later), or a removal half
  done (finished later; chunks go first, so no chunk is left unnamed). A
  command cut short after its save is redelivered and answered from the
  outbox, which runs `keep_logo` again before publishing the answer.
- `unused_since` is the one field two writers update (passes set and clear
  it, commands clear it). A lost update there only moves the clock: each
  write sets it to a pass's own `now` or clears it, so the value left is
  never older than the pass that wrote it; a logo named and replaced
  within one pass may keep that pass's mark, which `grace` (a pass interval)
  more than covers. The marks and verdicts, which decide, have no updates.

What remains: FerretDB runs a filtered delete as a read and a delete by
`_id`; a single such statement of one purger that stalled across another's
whole removal, a command's fresh upload and its check could remove the fresh
upload. Each pass reports tenants whose named logo is missing
(`herald_logos_missing`), so that would be seen.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from herald.shared.contract.messages import LogoUpload
from herald.shared.contract.tenant_settings import LogoRef

log = logging.getLogger("herald.retention")

#: Rounds of `keep_logo` before it gives up (each is a look, at most one write and a look).
KEEP_ROUNDS = 5


class Verdict(enum.StrEnum):
    KEEP = "keep"
    PURGE = "purge"


@dataclass(frozen=True, slots=True)
class StoredLogo:
    """One stored upload of a logo."""

    logo_id: str
    #: The upload's own id (GridFS `metadata.attempt`): compared, never interpreted.
    attempt: Any
    unused_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrashMark:
    """An upload put in the bin: its files and chunks are still there."""

    mark_id: str
    logo_id: str
    attempt: Any
    trashed_at: datetime


class LogoStorage(Protocol):
    """What the bin needs of the database; every write but `set_unused_since` is an insert
    of a new id or a delete by id (or, for `remove`, of one upload's own documents)."""

    async def stored(self) -> list[StoredLogo]: ...

    async def find(self, logo_id: str) -> StoredLogo | None: ...

    async def upload(self, upload: LogoUpload) -> None:
        """A fresh copy; one stored under the id meanwhile is left as it is."""

    async def remove(self, logo: StoredLogo) -> None:
        """That upload's chunks, then its files document; a newer upload stays whole."""

    async def set_unused_since(self, logo: StoredLogo, since: datetime | None) -> None: ...

    async def names(self) -> dict[str, str]:
        """The logo each tenant's settings name, by tenant (tenants naming none left out)."""

    async def marks(self, logo_id: str | None = None) -> list[TrashMark]: ...

    async def add_mark(self, mark: TrashMark) -> None: ...

    async def drop_mark(self, mark_id: str) -> None: ...

    async def verdicts(self) -> dict[str, Verdict]: ...

    async def decide(self, mark_id: str, verdict: Verdict) -> Verdict:
        """Insert the mark's verdict unless it has one: the verdict that stands."""

    async def drop_verdict(self, mark_id: str) -> None: ...


class LogoNotKept(TimeoutError):
    """`keep_logo` found its logo removed again and again: given up for now, like a timeout
    (a transient error: the batch of commands is read again, and answered from the outbox)."""


async def _stands(storage: LogoStorage, mark: TrashMark) -> bool:
    """Whether the mark is still there (its verdict, read before, is then final)."""
    return any(m.mark_id == mark.mark_id for m in await storage.marks(mark.logo_id))


async def keep_logo(storage: LogoStorage, upload: LogoUpload) -> LogoRef:
    """The logo stored, out of the bin and with its clock cleared, for settings that name
    it (or are about to): see the module's docstring for why it then stays."""
    ref = upload.stored_as()
    for _ in range(KEEP_ROUNDS):
        marks = await storage.marks(ref.asset_id)  # before the files document: see above
        logo = await storage.find(ref.asset_id)
        if logo is None:
            await storage.upload(upload)
            continue
        doomed = False
        for mark in marks:
            if mark.attempt != logo.attempt:
                continue  # a removed upload's mark: this one is newer
            verdict = await storage.decide(mark.mark_id, Verdict.KEEP)
            if verdict is Verdict.PURGE and await _stands(storage, mark):
                doomed = True
        if doomed:
            log.info("logo %s named while it is purged: stored afresh", ref.asset_id)
            await storage.remove(logo)
            continue
        if logo.unused_since is not None:
            await storage.set_unused_since(logo, None)
        again = await storage.find(ref.asset_id)
        if again is not None and again.attempt == logo.attempt:
            return ref
    raise LogoNotKept(ref.asset_id)


@dataclass(frozen=True, slots=True)
class LogoPass:
    """What one pass did."""

    removed: int
    #: More purges were due than the budget let go.
    more: bool
    #: Tenants whose settings name a logo not stored, with that logo.
    missing: dict[str, str]


async def sweep_logos(
    storage: LogoStorage,
    now: datetime,
    keep: timedelta,
    grace: timedelta,
    budget: int,
) -> LogoPass:
    """One pass: settle the bin (keep named logos, purge those in it for `grace`), then mark
    unnamed logos and put those unnamed for `keep` in the bin. Reads verdicts, marks, files,
    then tenants, in that order (the argument above depends on it)."""
    verdicts = await storage.verdicts()
    marks = await storage.marks()
    stored = await storage.stored()
    names = await storage.names()
    named = set(names.values())
    standing = {mark.mark_id for mark in marks}
    for mark_id in verdicts.keys() - standing:
        await storage.drop_verdict(mark_id)  # its mark was gone before it was read: void
    removed, due = 0, 0
    #: Uploads in the bin, or just purged: not marked again by this pass.
    in_bin: set[tuple[str, Any]] = set()
    for mark in marks:
        verdict = verdicts.get(mark.mark_id)
        if verdict is None:
            if mark.logo_id in named:
                verdict = await storage.decide(mark.mark_id, Verdict.KEEP)
            elif mark.trashed_at <= now - grace:
                verdict = Verdict.PURGE  # decided below, within the budget
            else:
                in_bin.add((mark.logo_id, mark.attempt))
                continue
        if verdict is Verdict.PURGE:
            in_bin.add((mark.logo_id, mark.attempt))
            due += 1
            if removed >= budget:
                continue
            if mark.mark_id not in verdicts:
                verdict = await storage.decide(mark.mark_id, Verdict.PURGE)
        if verdict is Verdict.KEEP:
            await storage.drop_mark(mark.mark_id)
            await storage.drop_verdict(mark.mark_id)
        elif await _stands(storage, mark):
            await storage.remove(StoredLogo(mark.logo_id, mark.attempt))
            await storage.drop_mark(mark.mark_id)
            await storage.drop_verdict(mark.mark_id)
            removed += 1
        else:
            await storage.drop_verdict(mark.mark_id)  # its mark went first: void
    for logo in stored:
        if logo.logo_id in named:
            if logo.unused_since is not None:
                await storage.set_unused_since(logo, None)
        elif (logo.logo_id, logo.attempt) in in_bin:
            continue
        elif logo.unused_since is None:
            await storage.set_unused_since(logo, now)
        elif logo.unused_since <= now - keep:
            mark_id = f"{logo.logo_id}@{uuid.uuid4().hex}"
            await storage.add_mark(TrashMark(mark_id, logo.logo_id, logo.attempt, now))
    return LogoPass(removed, due > removed, await _missing(storage, names, stored))


async def _missing(
    storage: LogoStorage, names: dict[str, str], stored: Sequence[StoredLogo]
) -> dict[str, str]:
    """Tenants naming a logo not stored (looked up again: one stored since the pass's read
    of the files documents is no loss)."""
    ids = {logo.logo_id for logo in stored}
    missing: dict[str, str] = {}
    for tenant, logo_id in names.items():
        if logo_id not in ids and await storage.find(logo_id) is None:
            missing[tenant] = logo_id
    return missing
