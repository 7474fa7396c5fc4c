"""Sealing secrets for the mailer: libsodium sealed boxes, each naming its key.

A tenant's SMTP password travels and rests only as a `SealedSecret`: whoever
sets it (the platform, the CLI) seals it with Herald's public key, and only the
mailer holds private keys to open it. The format is part of the contract so
that the platform's client can seal without Herald's runtime.

Format: `SealedSecret.key_id` names the key pair; `ciphertext` is standard
base64 of `crypto_box_seal` (X25519 + XSalsa20-Poly1305, 48 bytes of overhead)
over the UTF-8 plaintext. Keys are raw 32-byte X25519 keys in standard base64;
a public key is written `<key id>:<base64>`.

Key ids let keys rotate: the mailer accepts every key of its `Keyring`, new
secrets are sealed with the newest public key, and `reseal` moves old ones over.

Errors name key ids, never plaintext or private keys: they end up in logs,
command rejections and tracebacks.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import nacl.exceptions
import nacl.public

from herald.shared.contract.tenant_settings import SealedSecret

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: X25519 keys, public and private alike.
KEY_BYTES = 32
#: What a sealed box adds to its plaintext: an ephemeral public key and a MAC.
SEAL_OVERHEAD = 48
#: The longest plaintext whose sealed box fits `SealedSecret.ciphertext` (4096 base64 chars).
MAX_SECRET_BYTES = 4096 // 4 * 3 - SEAL_OVERHEAD


class SealedSecretError(ValueError):
    """A sealed secret that cannot be opened here; `key_id` names the key it was sealed for."""

    def __init__(self, key_id: str, message: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownKey(SealedSecretError):
    """Sealed for a key this keyring does not hold: a key not deployed yet, or retired."""


class CannotOpen(SealedSecretError):
    """The key is held but does not open the box: another key under the same id, or tampering."""


def _short(text: str) -> str:
    """A user's input quoted in an error, cut short so a pasted key cannot land in a log whole."""
    return repr(text if len(text) <= 64 else text[:61] + "...")


def check_key_id(key_id: str) -> str:
    """The key id itself, or a ValueError: ids appear in messages, file names and env values."""
    if not KEY_ID_PATTERN.match(key_id):
        raise ValueError(f"bad key id {_short(key_id)}: must match {KEY_ID_PATTERN.pattern}")
    return key_id


def _key_bytes(text: str, what: str) -> bytes:
    """32 bytes from standard base64; the message names `what`, never the text."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{what} is {len(raw)} bytes, expected {KEY_BYTES}")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class PublicKey:
    """A public key with its id: what `seal` needs, written `<key id>:<base64>`."""

    key_id: str
    key: nacl.public.PublicKey

    def text(self) -> str:
        return f"{self.key_id}:{_b64(bytes(self.key))}"


def parse_public_key(text: str) -> PublicKey:
    """`<key id>:<base64 public key>` (HERALD_SECRETS__PUBLIC_KEY) as a `PublicKey`."""
    key_id, colon, encoded = text.strip().partition(":")
    if not colon:
        raise ValueError("a public key is written '<key id>:<base64 key>', and this has no ':'")
    check_key_id(key_id)
    return PublicKey(key_id, nacl.public.PublicKey(_key_bytes(encoded, f"public key {key_id!r}")))


def seal(public: PublicKey, plaintext: str) -> SealedSecret:
    """`plaintext` sealed for `public`: only its private key opens it (a fresh box each time)."""
    data = plaintext.encode("utf-8")
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError(
            f"a secret of {len(data)} bytes is too long to seal (at most {MAX_SECRET_BYTES})"
        )
    box = nacl.public.SealedBox(public.key).encrypt(data)
    return SealedSecret(key_id=public.key_id, ciphertext=_b64(box))


def generate_key_pair(key_id: str) -> tuple[str, str]:
    """A new key pair: the public key as `<key id>:<base64>`, the private key as base64."""
    check_key_id(key_id)
    private = nacl.public.PrivateKey.generate()
    return PublicKey(key_id, private.public_key).text(), _b64(bytes(private))


@dataclass(frozen=True)
class Keyring:
    """The private keys a mailer holds, by id: every key it lists opens what was sealed for it."""

    #: Not in repr: a keyring printed in a log or traceback shows its ids only.
    private_keys: Mapping[str, nacl.public.PrivateKey] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"

    @classmethod
    def from_texts(cls, mapping: Mapping[str, str]) -> Keyring:
        """A keyring from `{"<key id>": "<base64 private key>"}`, as settings hold it."""
        keys: dict[str, nacl.public.PrivateKey] = {}
        for key_id, text in mapping.items():
            check_key_id(key_id)
            keys[key_id] = nacl.public.PrivateKey(_key_bytes(text, f"private key {key_id!r}"))
        return cls(MappingProxyType(keys))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.private_keys))

    def holds(self, sealed: SealedSecret) -> bool:
        return sealed.key_id in self.private_keys

    def open(self, sealed: SealedSecret) -> str:
        """The plaintext; UnknownKey if the key is not held, CannotOpen if it does not open it."""
        private = self.private_keys.get(sealed.key_id)
        if private is None:
            held = ", ".join(self.key_ids) or "none"
            raise UnknownKey(
                sealed.key_id,
                f"secret sealed for key {sealed.key_id!r}, which is not held here (held: {held})",
            )
        try:
            data = nacl.public.SealedBox(private).decrypt(
                base64.b64decode(sealed.ciphertext, validate=True)
            )
            return data.decode("utf-8")
        except (nacl.exceptions.CryptoError, binascii.Error, ValueError):
            raise CannotOpen(
                sealed.key_id,
                f"key {sealed.key_id!r} does not open this secret: sealed with another key "
                "of that id, or altered",
            ) from None

    def public_key(self, key_id: str) -> PublicKey:
        """The public half of a held key, to seal with it (UnknownKey if not held)."""
        private = self.private_keys.get(key_id)
        if private is None:
            raise UnknownKey(key_id, f"key {key_id!r} is not held here")
        return PublicKey(key_id, private.public_key)


def reseal(sealed: SealedSecret, keyring: Keyring, new: PublicKey) -> SealedSecret | None:
    """`sealed` moved to the key `new`, for rotation: the input itself if already under that
    key id, None if the keyring cannot read it (an unknown key, or a box its key does not
    open; `Keyring.holds` tells them apart): rotation re-seals nothing it cannot read."""
    if sealed.key_id == new.key_id:
        return sealed
    try:
        plaintext = keyring.open(sealed)
    except SealedSecretError:
        return None
    return seal(new, plaintext)
