"""The logos' bin (`services/scheduler/logo_bin.py`) on memory, with the real command handler:
a logo no tenant names is marked, put in the bin (still whole), purged; a logo named again
at any step of a pass, with a crash at any step, stays stored, and readers never miss it.

Found by review of the first clean-up, which removed a logo and stored it again when a
tenant named it meanwhile: a crash, or a failed second `put_logo`, between the two left
settings naming a missing logo; readers missed it in between; a logo named and replaced
between two passes kept its old mark and went minutes after it was replaced.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.logo_bin import LogoPass, Verdict, sweep_logos
from herald.shared.contract.messages import ChangeTenantSettings, LogoUpload
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from tests.fakes.scheduler import (
    Crash,
    MemoryCalendar,
    MemoryLogos,
    MemorySchedules,
    MemoryTenants,
    RecordingBodies,
    Step,
    keyed,
)

KEEP = timedelta(days=1)
GRACE = timedelta(hours=1)
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
OLD, NEW, OTHER = (b"\x89PNG\r\n\x1a\n" + bytes([n]) * 64 for n in (1, 2, 3))


def _upload(data: bytes) -> dict[str, Any]:
    return {"filename": "logo.png", "content_type": "image/png", "data": base64.b64encode(data)}


def logo_id(data: bytes) -> str:
    return LogoUpload.model_validate(_upload(data)).stored_as().asset_id


def branding(tenant: str, data: bytes) -> ChangeTenantSettings:
    return ChangeTenantSettings(
        command_id=uuid4(),
        tenant_id=tenant,
        branding={
            "platform_name": tenant.title(),
            "platform_base_url": f"https://{tenant}.example",
            "logo_upload": _upload(data),
        },
    )


@dataclass
class World:
    tenants: MemoryTenants = field(default_factory=MemoryTenants)
    bodies: RecordingBodies = field(default_factory=RecordingBodies)
    #: Tenants whose settings naming a logo were published: readers read it from then on.
    published: dict[str, str] = field(default_factory=dict)

    @property
    def bin(self) -> MemoryLogos:
        return self.tenants.bin

    async def send(self, command: ChangeTenantSettings) -> list[str]:
        handler = CommandHandler(
            MemorySchedules(),
            MemoryCalendar(),
            self.bodies,
            Topics("t"),
            "UTC",
            RecipientPolicy(),
            self.tenants,
        )
        before = len(self.bodies.published)
        await handler.handle(*keyed(command.model_dump_json().encode()))
        out = self.bodies.published[before:]
        for _, _, body in out:
            doc = json.loads(body)
            if doc["type"] == "TenantSettings":
                logo = (doc.get("branding") or {}).get("logo")
                if logo:
                    self.published[doc["tenant_id"]] = logo["asset_id"]
                else:
                    self.published.pop(doc["tenant_id"], None)
        return [json.loads(body)["type"] for _, _, body in out]

    async def clean(self, now: datetime, budget: int = 100) -> LogoPass:
        return await sweep_logos(self.bin, now, KEEP, GRACE, budget)

    def readers_never_miss_a_logo(self) -> None:
        """Before every operation: each logo a published setting names is stored."""

        def check(op: str) -> None:
            for tenant, asset_id in self.published.items():
                assert asset_id in self.bin.logos, f"{tenant}'s logo missing at {op}"

        self.bin.watch = check

    def at(self, step: Step, *actions: Callable[[], Awaitable[object]]) -> None:
        async def run() -> None:
            for action in actions:
                await action()

        self.bin.at[step] = run


async def crash() -> None:
    raise Crash("here")


async def retired(world: World) -> str:
    """OLD named by tenant `old`, then replaced by NEW: unnamed from T0 on."""
    await world.send(branding("old", OLD))
    await world.send(branding("old", NEW))
    return logo_id(OLD)


async def in_the_bin(world: World) -> str:
    """OLD marked at T0 and put in the bin a retention later: due for purging after GRACE."""
    asset_id = await retired(world)
    await world.clean(T0)
    assert world.bin.unused[asset_id] == T0
    await world.clean(T0 + KEEP)
    assert [m.logo_id for m in world.bin.trash.values()] == [asset_id]
    return asset_id


DUE = T0 + KEEP + GRACE


async def settle(world: World, start: datetime) -> None:
    """Passes until the bin is empty (each its own pass interval later)."""
    for n in range(4):
        await world.clean(start + n * GRACE)
    assert world.bin.trash == {}
    assert world.bin.verdict == {}


# --- the life of an unnamed logo --------------------------------------------------------


async def test_an_unnamed_logo_is_marked_binned_whole_then_purged() -> None:
    world = World()
    world.readers_never_miss_a_logo()
    asset_id = await in_the_bin(world)
    assert world.bin.logos[asset_id] == OLD  # in the bin, still whole: readers still read it
    assert (await world.clean(DUE - timedelta(minutes=1))).removed == 0
    done = await world.clean(DUE)
    assert (done.removed, done.more) == (1, False)
    assert asset_id not in world.bin.logos
    assert logo_id(NEW) in world.bin.logos
    assert (world.bin.trash, world.bin.verdict) == ({}, {})


async def test_a_named_logo_is_never_marked_nor_binned() -> None:
    world = World()
    await world.send(branding("acme", OLD))
    for days in range(5):
        await world.clean(T0 + days * KEEP)
    assert world.bin.unused == {}
    assert world.bin.trash == {}
    assert logo_id(OLD) in world.bin.logos


async def test_a_pass_purges_no_more_than_its_budget() -> None:
    world = World()
    for data in (OLD, OTHER):
        await world.send(branding("acme", data))
    await world.send(branding("acme", NEW))
    await world.clean(T0)
    await world.clean(T0 + KEEP)
    first = await world.clean(DUE, budget=1)
    assert (first.removed, first.more) == (1, True)
    second = await world.clean(DUE, budget=1)
    assert (second.removed, second.more) == (1, False)
    assert set(world.bin.logos) == {logo_id(NEW)}


# --- (a), (c): a command names the logo during a pass, a crash anywhere ---------------------

#: Where in the purging pass the command runs: after the pass found the logo unnamed, after it
#: decided the purge, after it removed the upload, after it dropped the mark.
COMMAND_AT: list[Step] = [
    ("names", "after"),
    ("decide", "after"),
    ("remove", "after"),
    ("drop_mark", "after"),
]
#: Where the pass then crashes (None: it does not).
CRASH_AT: list[Step | None] = [
    None,
    ("decide", "before"),
    ("decide", "after"),
    ("remove", "before"),
    ("remove", "after"),
    ("drop_mark", "after"),
    ("drop_verdict", "before"),
]


@pytest.mark.parametrize("crash_at", CRASH_AT, ids=str)
@pytest.mark.parametrize("command_at", COMMAND_AT, ids=str)
async def test_a_logo_named_during_a_purging_pass_stays_whatever_crashes(
    command_at: Step, crash_at: Step | None
) -> None:
    world = World()
    world.readers_never_miss_a_logo()
    asset_id = await in_the_bin(world)
    named = False

    async def name_it() -> None:
        nonlocal named
        assert "CommandAccepted" in await world.send(branding("new", OLD))
        named = True

    if crash_at == command_at:
        world.at(command_at, name_it, crash)
    else:
        world.at(command_at, name_it)
        if crash_at is not None:
            world.at(crash_at, crash)
    with contextlib.suppress(Crash):
        await world.clean(DUE)
    if not named:  # the pass ended (or crashed) before the command's moment: name it now
        world.bin.at.clear()
        await name_it()
    assert world.bin.logos.get(asset_id) == OLD
    await settle(world, DUE + GRACE)
    for days in range(1, 4):  # named: never marked again, never purged
        await world.clean(DUE + days * KEEP)
    assert world.bin.logos.get(asset_id) == OLD
    assert asset_id not in world.bin.unused


async def test_a_command_that_meets_a_purge_decided_stores_a_fresh_copy_before_publishing() -> None:
    """The pass has won the verdict: the purge is final; the command does not wait for it."""
    world = World()
    world.readers_never_miss_a_logo()
    asset_id = await in_the_bin(world)
    first = world.bin.attempts[asset_id]
    world.at(("decide", "after"), lambda: world.send(branding("new", OLD)), crash)
    with pytest.raises(Crash):
        await world.clean(DUE)
    assert world.bin.attempts[asset_id] != first  # the doomed upload replaced
    (verdict,) = world.bin.verdict.values()
    assert verdict is Verdict.PURGE
    await settle(world, DUE + GRACE)  # the purge finished: the old upload only
    assert world.bin.logos[asset_id] == OLD


async def test_a_bin_mark_made_on_a_stale_look_is_answered_keep_not_a_fresh_upload() -> None:
    """A pass put a logo in the bin on a look older than a command that named it since:
    another tenant naming it then keeps it (verdict `keep`): published readers read on."""
    world = World()
    world.readers_never_miss_a_logo()
    asset_id = await retired(world)
    await world.clean(T0)
    world.at(("names", "after"), lambda: world.send(branding("early", OLD)))
    await world.clean(T0 + KEEP)  # found it unnamed, then it was named and published
    (mark,) = world.bin.trash.values()
    uploads = world.bin.attempts[asset_id]
    await world.send(branding("late", OLD))
    assert world.bin.verdict == {mark.mark_id: Verdict.KEEP}
    assert world.bin.attempts[asset_id] == uploads
    await settle(world, DUE)
    assert world.bin.logos[asset_id] == OLD


async def test_a_stalled_pass_that_wins_a_verdict_after_its_mark_went_purges_nothing() -> None:
    world = World()
    world.readers_never_miss_a_logo()
    asset_id = await in_the_bin(world)

    async def meanwhile() -> None:
        await world.send(branding("new", OLD))  # keeps it
        await world.clean(DUE)  # drops the mark and its verdict

    world.at(("names", "after"), meanwhile)
    await world.clean(DUE)  # this pass had found the logo unnamed and in the bin
    assert world.bin.logos[asset_id] == OLD
    assert (world.bin.trash, world.bin.verdict) == ({}, {})


# --- (b): the command's check after its save fails or is cut short -----------------------


async def _purged_while_saving(world: World, then: Callable[[], Awaitable[None]]) -> None:
    """While the command (its logo checked) saves: a pass puts OLD in the bin on a look from
    before, a later one purges it; then `then`."""

    async def passes() -> None:
        world.bin.unused[logo_id(OLD)] = T0  # the mark the command's check just cleared,
        # as the binning pass read it before
        await world.clean(T0 + KEEP)
        await world.clean(DUE)
        assert logo_id(OLD) not in world.bin.logos
        await then()

    world.tenants.before_save = passes


async def test_a_logo_purged_while_its_command_saves_is_stored_before_publishing() -> None:
    world = World()
    world.readers_never_miss_a_logo()
    await retired(world)
    await world.clean(T0)

    async def nothing() -> None:
        pass

    await _purged_while_saving(world, nothing)
    assert "CommandAccepted" in await world.send(branding("new", OLD))
    assert world.bin.logos[logo_id(OLD)] == OLD


@pytest.mark.parametrize("failure", [ConnectionError("mongo gone"), Crash("killed")])
async def test_a_redelivery_answered_from_the_outbox_stores_the_logo_again(
    failure: Exception,
) -> None:
    """The command's check after its save fails (or the process dies there): the command
    is read again, answered from the outbox, and the logo stored before the answer."""
    world = World()
    world.readers_never_miss_a_logo()
    await retired(world)
    await world.clean(T0)

    async def fail_next_check() -> None:
        async def fail() -> None:
            raise failure

        world.at(("marks", "before"), fail)

    command = branding("new", OLD)
    await _purged_while_saving(world, fail_next_check)
    with pytest.raises(type(failure)):
        await world.send(command)
    assert world.tenants.names()["new"] == logo_id(OLD)  # saved, not published
    assert logo_id(OLD) not in world.bin.logos
    types = await world.send(command)  # read again
    assert types == ["TenantSettingsChanged", "TenantSettings", "CommandAccepted"]
    assert world.bin.logos[logo_id(OLD)] == OLD


# --- (d): named again, its clock starts again ---------------------------------------------


async def test_a_logo_named_and_replaced_again_between_passes_keeps_its_full_retention() -> None:
    world = World()
    asset_id = await retired(world)
    await world.clean(T0)  # marked
    await world.send(branding("again", OLD))  # named again, and replaced again,
    await world.send(branding("again", OTHER))  # all between two passes
    assert asset_id not in world.bin.unused
    await world.clean(T0 + KEEP)  # found unnamed: marked anew
    assert world.bin.unused[asset_id] == T0 + KEEP
    await world.clean(DUE + GRACE)
    assert world.bin.trash == {}
    assert asset_id in world.bin.logos
    await world.clean(T0 + 2 * KEEP)  # in the bin a full retention after the new mark
    assert [m.logo_id for m in world.bin.trash.values()] == [asset_id]
    assert (await world.clean(T0 + 2 * KEEP + GRACE)).removed == 1


async def test_a_logo_named_again_while_in_the_bin_leaves_it_and_starts_again() -> None:
    world = World()
    asset_id = await in_the_bin(world)
    await world.send(branding("again", OLD))
    await world.send(branding("again", OTHER))  # replaced again before the next pass
    await world.clean(DUE)  # the command's verdict `keep` stands: out of the bin
    assert world.bin.trash == {}
    assert asset_id in world.bin.logos
    assert world.bin.unused[asset_id] == DUE  # marked anew
    await world.clean(DUE + KEEP)
    assert (await world.clean(DUE + KEEP + GRACE)).removed == 1


# --- crashes of a pass alone, and what a pass reports -------------------------------------


@pytest.mark.parametrize(
    "crash_at",
    [
        ("add_mark", "after"),
        ("decide", "after"),
        ("remove", "after"),
        ("drop_mark", "after"),
        ("drop_verdict", "before"),
    ],
    ids=str,
)
async def test_a_pass_cut_short_anywhere_is_finished_by_the_next(crash_at: Step) -> None:
    world = World()
    asset_id = await retired(world)
    await world.clean(T0)
    world.at(crash_at, crash)
    for now in (T0 + KEEP, DUE):
        with contextlib.suppress(Crash):
            await world.clean(now)
    await settle(world, DUE + GRACE)
    assert asset_id not in world.bin.logos
    assert set(world.bin.logos) == {logo_id(NEW)}


async def test_a_pass_reports_tenants_whose_named_logo_is_missing() -> None:
    world = World()
    await world.send(branding("acme", OLD))
    del world.bin.logos[logo_id(OLD)]  # lost by some other hand
    world.bin.log.clear()
    done = await world.clean(T0)
    assert done.missing == {"acme": logo_id(OLD)}
    assert "upload" not in world.bin.log  # a pass never stores a logo
