"""`herald keys ...`: the key pairs that seal tenants' SMTP passwords.

`generate` writes the private key into a JSON keyring file (mode 0600), for
the mailer alone (`HERALD_SECRETS__PRIVATE_KEYS_FILE`, on Kubernetes the Secret
`herald-mailer-keys`), and prints only the public key, which those who seal
(the platform, the CLI) set as `HERALD_SECRETS__PUBLIC_KEY`. A private key is
never printed: terminals, CI logs and shell histories keep what they show.

`rotate` re-seals every tenant's password for the current public key, opening
each with the keys it is given; one it cannot open is left as it is.

Exit codes: 0 done, 1 invalid input, a file that cannot be written, or a
password left unrotated; 2 Kafka or MongoDB could not be reached.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from herald.cli.support import console, fail, open_database, run, send_command, valid_command
from herald.services.scheduler.tenant_commands import TenantState
from herald.shared.contract.messages import ChangeTenantSettings
from herald.shared.contract.secrets import Keyring, PublicKey, generate_key_pair, reseal
from herald.shared.contract.tenant_settings import TenantEmail
from herald.shared.runtime.keyring import load_keyring, read_keys_file, sealing_key
from herald.shared.runtime.settings import Settings

app = typer.Typer(
    help="Key pairs for sealed secrets (tenants' SMTP passwords).\n\n"
    "Example: herald keys generate --key-id 2025-06 --out mailer-keys.json",
    no_args_is_help=True,
)

_PRIVATE = 0o600


@app.callback()
def _keys() -> None:
    # A group even with one command: `herald keys generate`, not `herald keys`.
    pass


def _write_private(path: Path, keys: dict[str, str], *, replace: bool) -> None:
    """The keyring as JSON, readable by its owner only from the first byte on.

    A new file is created exclusively (never over one that appeared meanwhile);
    a merged one is written beside it and renamed over it, so a crash leaves the
    old keyring whole.
    """
    if replace:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        target = Path(name)
    else:
        target = path
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), _PRIVATE)
            json.dump(keys, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(target, path)
    except BaseException:
        # `target` is ours alone (created exclusively): nothing half-written stays behind.
        with contextlib.suppress(OSError):
            target.unlink()
        raise


@app.command("generate")
def generate(
    key_id: Annotated[
        str, typer.Option("--key-id", help="The new key's id, e.g. the month it starts: 2025-06.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="JSON keyring file for the private key (mode 0600).")
    ],
    merge: Annotated[
        bool, typer.Option("--merge", help="Add the key to an existing keyring file.")
    ] = False,
) -> None:
    """Generate a key pair: the private key into --out, the public key printed.

    Example: herald keys generate --key-id 2025-06 --out mailer-keys.json
    """
    try:
        public, private = generate_key_pair(key_id)
    except ValueError as exc:
        raise fail(f"--key-id: {exc}") from exc
    keys: dict[str, str] = {}
    existing = out.exists()
    if existing and not merge:
        raise fail(f"{out} already exists; pass --merge to add key {key_id!r} to it")
    if existing:
        try:
            keys = read_keys_file(out)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        if key_id in keys:
            raise fail(f"{out} already holds key {key_id!r}; choose another --key-id")
    keys[key_id] = private
    try:
        _write_private(out, keys, replace=existing)
    except OSError as exc:
        raise fail(f"{out}: cannot write the private key: {exc.strerror or exc}") from exc
    typer.echo(public)
    console.print(
        f"Set HERALD_SECRETS__PUBLIC_KEY={public} where secrets are sealed; "
        f"the private key is in {out}, for the mailer only (HERALD_SECRETS__PRIVATE_KEYS_FILE).",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


async def _tenants(settings: Settings) -> list[TenantState]:
    from herald.services.scheduler.tenant_store import TenantStore

    async with open_database(settings) as db:
        return await TenantStore(db).all_states()


def _resealed(state: TenantState, keyring: Keyring, new: PublicKey) -> TenantEmail | str | None:
    """The tenant's email settings sealed for `new`; None when nothing is to do; a reason
    when the password cannot be read with the keys at hand (it is left as it is)."""
    email = state.email
    if email is None or email.password is None or email.password.key_id == new.key_id:
        return None
    sealed = reseal(email.password, keyring, new)
    if sealed is None:
        return f"sealed with key {email.password.key_id!r}, which the keys given cannot open"
    return email.model_copy(update={"password": sealed})


@app.command("rotate")
def rotate(
    dry_run: Annotated[bool, typer.Option(help="Say what would be re-sealed, change nothing.")] = (
        False
    ),
) -> None:
    """Re-seal every tenant's SMTP password for HERALD_SECRETS__PUBLIC_KEY.

    Opens each with the keys of HERALD_SECRETS__PRIVATE_KEYS(_FILE) and sends the
    tenant a settings change conditional on its version; a password none of those
    keys opens is left as it is and named. Give the mailers the new key first.

    Example: HERALD_SECRETS__PUBLIC_KEY=2025-06:... herald keys rotate
    """
    settings = Settings()
    try:
        new = sealing_key(settings.secrets)
        keyring = load_keyring(settings.secrets)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if new is None:
        raise fail("HERALD_SECRETS__PUBLIC_KEY names no key to re-seal for")
    resealed = left = 0
    for state in run(_tenants(settings)):
        outcome = _resealed(state, keyring, new)
        if isinstance(outcome, str):
            left += 1
            console.print(f"{state.tenant_id}: left as it is: {outcome}", markup=False)
            continue
        if outcome is None:
            continue
        resealed += 1
        if dry_run:
            console.print(f"{state.tenant_id}: would be re-sealed for {new.key_id}", markup=False)
            continue
        send_command(
            valid_command(
                ChangeTenantSettings,
                tenant_id=state.tenant_id,
                expected_version=state.version,
                email=outcome,
            )
        )
        console.print(f"{state.tenant_id}: re-sealed for {new.key_id}", markup=False)
    verb = "would be re-sealed" if dry_run else "re-sealed"
    console.print(f"{resealed} password(s) {verb}, {left} left as they are", markup=False)
    if left:
        raise typer.Exit(1)
