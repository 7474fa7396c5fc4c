"""The keys of sealed secrets, from settings: the mailer's keyring and the key to seal with.

Private keys come from `HERALD_SECRETS__PRIVATE_KEYS` and from the JSON file
`HERALD_SECRETS__PRIVATE_KEYS_FILE` (on Kubernetes a mounted Secret, so the
keys stay out of the environment the other services share); both are merged.
Errors name the file or the key id, never a key.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

from herald.shared.contract.secrets import Keyring, PublicKey, parse_public_key
from herald.shared.runtime.settings import SecretsSettings


def read_keys_file(path: Path) -> dict[str, str]:
    """`{"<key id>": "<base64 private key>"}` from a JSON file; a ValueError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the private keys: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the private keys file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # exc's own text quotes no content, only where it stopped.
        raise ValueError(
            f"{path}: the private keys file is not JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise ValueError(
            f'{path}: the private keys file must be one JSON object {{"<key id>": "<base64>"}} '
            "of strings"
        )
    return data


def load_keyring(settings: SecretsSettings) -> Keyring:
    """Every private key of the settings and their file: an id in both must hold the same key."""
    texts = {key_id: secret.get_secret_value() for key_id, secret in settings.private_keys.items()}
    try:
        keyring = Keyring.from_texts(texts)
    except ValueError as exc:
        raise ValueError(f"HERALD_SECRETS__PRIVATE_KEYS: {exc}") from None
    if settings.private_keys_file is None:
        return keyring
    path = settings.private_keys_file
    from_file = read_keys_file(path)
    try:
        file_keyring = Keyring.from_texts(from_file)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    keys = dict(keyring.private_keys)
    for key_id, private in file_keyring.private_keys.items():
        if key_id in keys and bytes(keys[key_id]) != bytes(private):
            raise ValueError(
                f"key id {key_id!r} holds different keys in HERALD_SECRETS__PRIVATE_KEYS and {path}"
            )
        keys[key_id] = private
    return Keyring(MappingProxyType(keys))


def sealing_key(settings: SecretsSettings) -> PublicKey | None:
    """The public key new secrets are sealed with; None when none is configured."""
    if settings.public_key is None:
        return None
    try:
        return parse_public_key(settings.public_key)
    except ValueError as exc:
        raise ValueError(f"HERALD_SECRETS__PUBLIC_KEY: {exc}") from None
