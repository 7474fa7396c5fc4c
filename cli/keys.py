"""`herald keys ...`: the key pairs that seal tenants' SMTP passwords.

`generate` writes the private key into a JSON keyring file (mode 0600), for
the mailer alone (`HERALD_SECRETS__PRIVATE_KEYS_FILE`, on Kubernetes the Secret
`herald-mailer-keys`), and prints only the public key, which those who seal
(the platform, the CLI) set as `HERALD_SECRETS__PUBLIC_KEY`. A private key is
never printed: terminals, CI logs and shell histories keep what they show.

Exit codes: 0 done, 1 invalid input or a file that cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from herald.cli.support import console, fail
from herald.shared.contract.secrets import generate_key_pair
from herald.shared.runtime.keyring import read_keys_file

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
