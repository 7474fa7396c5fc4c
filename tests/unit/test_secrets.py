"""Sealed secrets: tenants' SMTP passwords sealed for the mailer's keys, and the keys' tooling."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from herald.cli import keys
from herald.shared.contract.secrets import (
    CannotOpen,
    Keyring,
    PublicKey,
    SealedSecretError,
    UnknownKey,
    generate_key_pair,
    parse_public_key,
    reseal,
    seal,
)
from herald.shared.contract.tenant_settings import SealedSecret
from herald.shared.runtime.keyring import load_keyring, sealing_key
from herald.shared.runtime.settings import SecretsSettings

PASSWORD = "s3cret-SMTP-p@ss \u00e9\u00e8"


def _pair(key_id: str) -> tuple[PublicKey, Keyring, str]:
    public, private = generate_key_pair(key_id)
    return parse_public_key(public), Keyring.from_texts({key_id: private}), private


def _tampered(sealed: SealedSecret) -> SealedSecret:
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    raw[-1] ^= 0x01
    return sealed.model_copy(update={"ciphertext": base64.b64encode(raw).decode()})


def test_a_sealed_secret_opens_with_its_key() -> None:
    public, keyring, _ = _pair("2025-06")
    sealed = seal(public, PASSWORD)
    assert sealed.key_id == "2025-06"
    assert SealedSecret.model_validate_json(sealed.model_dump_json()) == sealed
    assert keyring.holds(sealed)
    assert keyring.open(sealed) == PASSWORD
    assert keyring.key_ids == ("2025-06",)
    assert keyring.public_key("2025-06") == public


def test_the_ciphertext_hides_the_plaintext_and_differs_each_time() -> None:
    public, _, _ = _pair("k1")
    first, second = seal(public, PASSWORD), seal(public, PASSWORD)
    for sealed in (first, second):
        assert PASSWORD not in sealed.ciphertext
        assert PASSWORD.encode() not in base64.b64decode(sealed.ciphertext)
        assert PASSWORD not in sealed.model_dump_json()
    assert first.ciphertext != second.ciphertext


def test_an_unknown_key_id_is_unknown_key() -> None:
    public, _, _ = _pair("old")
    _, keyring, _ = _pair("new")
    sealed = seal(public, PASSWORD)
    assert not keyring.holds(sealed)
    with pytest.raises(UnknownKey, match=r"key 'old'.*held: new") as caught:
        keyring.open(sealed)
    assert caught.value.key_id == "old"
    assert isinstance(caught.value, SealedSecretError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(UnknownKey, match="'old'"):
        keyring.public_key("old")


def test_a_tampered_box_or_another_key_under_the_id_cannot_open() -> None:
    public, keyring, _ = _pair("k1")
    sealed = seal(public, PASSWORD)
    with pytest.raises(CannotOpen, match="key 'k1' does not open") as caught:
        keyring.open(_tampered(sealed))
    assert caught.value.key_id == "k1"
    _, impostor, _ = _pair("k1")
    with pytest.raises(CannotOpen):
        impostor.open(sealed)
    too_short = sealed.model_copy(update={"ciphertext": "AAAA"})
    with pytest.raises(CannotOpen):
        keyring.open(too_short)


def test_a_keyring_of_two_keys_opens_both() -> None:
    """Rotation: the mailer holds old and new keys until nothing is sealed for the old one."""
    old_public, _, old_private = _pair("2025-01")
    new_public, _, new_private = _pair("2025-06")
    keyring = Keyring.from_texts({"2025-01": old_private, "2025-06": new_private})
    assert keyring.key_ids == ("2025-01", "2025-06")
    assert keyring.open(seal(old_public, "old one")) == "old one"
    assert keyring.open(seal(new_public, "new one")) == "new one"


def test_reseal_moves_a_secret_to_the_new_key() -> None:
    old_public, _, old_private = _pair("2025-01")
    new_public, new_keyring, new_private = _pair("2025-06")
    keyring = Keyring.from_texts({"2025-01": old_private, "2025-06": new_private})
    sealed = seal(old_public, PASSWORD)

    moved = reseal(sealed, keyring, new_public)
    assert moved is not None
    assert moved.key_id == "2025-06"
    assert new_keyring.open(moved) == PASSWORD

    assert reseal(moved, keyring, new_public) is moved
    stranger, _, _ = _pair("elsewhere")
    assert reseal(seal(stranger, PASSWORD), keyring, new_public) is None
    assert reseal(_tampered(sealed), keyring, new_public) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no ':'"),
        ("abc", "no ':'"),
        (":" + "A" * 44, "bad key id ''"),
        ("bad id:" + "A" * 44, "bad key id 'bad id'"),
        ("k" * 65 + ":" + "A" * 44, "bad key id"),
        ("k1:not base64!", "public key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"x" * 31).decode(), "public key 'k1' is 31 bytes, expected 32"),
        ("k1:", "public key 'k1' is 0 bytes"),
    ],
)
def test_parse_public_key_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_public_key(text)


def test_a_public_key_reads_back_as_written() -> None:
    public, _ = generate_key_pair("k.1_a-B")
    parsed = parse_public_key(f"  {public}\n")
    assert parsed.key_id == "k.1_a-B"
    assert parsed.text() == public


def test_bad_private_keys_are_named_by_id_not_value() -> None:
    secret_ish = "my-private-key-material"
    with pytest.raises(ValueError, match="private key 'k1' is not valid base64") as caught:
        Keyring.from_texts({"k1": secret_ish})
    assert secret_ish not in str(caught.value)
    short = base64.b64encode(b"y" * 16).decode()
    with pytest.raises(ValueError, match="private key 'k2' is 16 bytes") as caught:
        Keyring.from_texts({"k2": short})
    assert short not in str(caught.value)
    with pytest.raises(ValueError, match="bad key id 'a b'"):
        Keyring.from_texts({"a b": short})
    with pytest.raises(ValueError, match="bad key id"):
        generate_key_pair("no/slash")


def test_no_error_and_no_repr_shows_a_secret() -> None:
    public, keyring, private = _pair("k1")
    _, other, _ = _pair("k2")
    sealed = seal(public, PASSWORD)
    failures: list[BaseException] = []
    with pytest.raises(UnknownKey) as unknown:
        other.open(sealed)
    failures.append(unknown.value)
    with pytest.raises(CannotOpen) as cannot:
        keyring.open(_tampered(sealed))
    failures.append(cannot.value)
    with pytest.raises(ValueError, match="too long to seal") as too_long:
        seal(public, PASSWORD * 1000)
    failures.append(too_long.value)
    for failure in failures:
        assert PASSWORD not in str(failure)
        assert PASSWORD not in repr(failure)
        assert failure.__cause__ is None
    assert private not in repr(keyring)
    assert repr(keyring) == "Keyring(key_ids=('k1',))"


def test_load_keyring_merges_the_environment_and_the_file(tmp_path: Path) -> None:
    env_public, _, env_private = _pair("env-key")
    file_public, _, file_private = _pair("file-key")
    both_public, _, both_private = _pair("both")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"file-key": file_private, "both": both_private}))
    settings = SecretsSettings(
        private_keys={"env-key": SecretStr(env_private), "both": SecretStr(both_private)},
        private_keys_file=path,
    )
    keyring = load_keyring(settings)
    assert keyring.key_ids == ("both", "env-key", "file-key")
    for public in (env_public, file_public, both_public):
        assert keyring.open(seal(public, PASSWORD)) == PASSWORD

    assert load_keyring(SecretsSettings()).key_ids == ()
    only_env = load_keyring(SecretsSettings(private_keys={"env-key": SecretStr(env_private)}))
    assert only_env.key_ids == ("env-key",)


def test_load_keyring_reports_a_bad_file_by_name(tmp_path: Path) -> None:
    _, _, private = _pair("k1")
    cases = {
        "missing.json": (None, "cannot read the private keys"),
        "broken.json": ('{"k1": ', "is not JSON"),
        "list.json": (json.dumps([private]), "must be one JSON object"),
        "numbers.json": (json.dumps({"k1": 42}), "must be one JSON object"),
        "badkey.json": (json.dumps({"k1": "not-a-key"}), "private key 'k1' is not valid base64"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(ValueError, match=re.escape(f"{path}: ")) as caught:
            load_keyring(SecretsSettings(private_keys_file=path))
        assert message in str(caught.value), name
        assert private not in str(caught.value), name

    _, _, other = _pair("k1")
    path = tmp_path / "clash.json"
    path.write_text(json.dumps({"k1": other}))
    with pytest.raises(ValueError, match="key id 'k1' holds different keys"):
        load_keyring(
            SecretsSettings(private_keys={"k1": SecretStr(private)}, private_keys_file=path)
        )
    with pytest.raises(ValueError, match="HERALD_SECRETS__PRIVATE_KEYS: private key 'k9'"):
        load_keyring(SecretsSettings(private_keys={"k9": SecretStr("nope")}))


def test_sealing_key_from_settings() -> None:
    public, _ = generate_key_pair("k1")
    key = sealing_key(SecretsSettings(public_key=public))
    assert key is not None
    assert key.text() == public
    assert sealing_key(SecretsSettings()) is None
    with pytest.raises(ValueError, match=r"HERALD_SECRETS__PUBLIC_KEY: .*no ':'"):
        sealing_key(SecretsSettings(public_key="garbage"))


def _generate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(keys.app, ["generate", *args])
    return result.exit_code, result.output


def test_keys_generate_prints_the_public_key_only(tmp_path: Path) -> None:
    out = tmp_path / "mailer-keys.json"
    code, output = _generate("--key-id", "2025-06", "--out", str(out))
    assert code == 0, output

    stored = json.loads(out.read_text())
    assert list(stored) == ["2025-06"]
    private = stored["2025-06"]
    assert private not in output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    public_line = output.splitlines()[0]
    assert public_line.startswith("2025-06:")
    assert "HERALD_SECRETS__PUBLIC_KEY" in output
    public = parse_public_key(public_line)
    keyring = load_keyring(SecretsSettings(private_keys_file=out))
    assert keyring.open(seal(public, PASSWORD)) == PASSWORD


def test_keys_generate_refuses_to_overwrite_without_merge(tmp_path: Path) -> None:
    out = tmp_path / "mailer-keys.json"
    assert _generate("--key-id", "k1", "--out", str(out))[0] == 0
    before = out.read_bytes()

    code, output = _generate("--key-id", "k2", "--out", str(out))
    assert code == 1
    assert output.startswith("error: ")
    assert "already exists; pass --merge" in output
    assert "Traceback" not in output
    assert out.read_bytes() == before


def test_keys_generate_merges_into_a_keyring_file(tmp_path: Path) -> None:
    out = tmp_path / "mailer-keys.json"
    code, first = _generate("--key-id", "k1", "--out", str(out))
    assert code == 0
    out.chmod(0o644)
    code, second = _generate("--key-id", "k2", "--out", str(out), "--merge")
    assert code == 0, second
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailer-keys.json"]
    keyring = load_keyring(SecretsSettings(private_keys_file=out))
    assert keyring.key_ids == ("k1", "k2")
    for output in (first, second):
        public = parse_public_key(output.splitlines()[0])
        assert keyring.open(seal(public, PASSWORD)) == PASSWORD

    before = out.read_bytes()
    code, output = _generate("--key-id", "k2", "--out", str(out), "--merge")
    assert code == 1
    assert "already holds key 'k2'" in output
    assert out.read_bytes() == before


def test_keys_generate_reports_bad_input_cleanly(tmp_path: Path) -> None:
    code, output = _generate("--key-id", "bad id", "--out", str(tmp_path / "k.json"))
    assert code == 1
    assert "bad key id 'bad id'" in output
    assert not (tmp_path / "k.json").exists()

    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    code, output = _generate("--key-id", "k1", "--out", str(broken), "--merge")
    assert code == 1
    assert f"{broken}: the private keys file is not JSON" in output
    assert broken.read_text() == "not json"

    code, output = _generate("--key-id", "k1", "--out", str(tmp_path / "no-dir" / "k.json"))
    assert code == 1
    assert "cannot write the private key" in output
    assert "Traceback" not in output
