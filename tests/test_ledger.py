"""The ledger file: one JSON record a line under a YAML header, read back with `json` when it is
exactly what sealer writes and with YAML otherwise (a hand edit), the same records either way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from sealer import apikey, layout, ledger, yamlio
from sealer.errors import BadInput, ConfigError
from sealer.records import ACTIVE, GRACE, REVOKED, KeyRecord, parse_iso
from sealer.review.revisions import parse_ledger

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def record(
    name: str, status: str, actor: str = "Ann <ann@sealer.invalid>", seed: str = "", **extra: object
) -> KeyRecord:
    """A record whose key id is its fingerprint's (`seed` makes another key of the same name)."""
    fingerprint = hashlib.sha256(f"{name}{seed}".encode()).hexdigest()
    base = dict(
        env="prod-eu",
        name=name,
        key_id=apikey.key_id(fingerprint),
        fingerprint=fingerprint,
        created=T0,
        expires=T0 + dt.timedelta(days=90),
        status=status,
        actor=actor,
    )
    return KeyRecord(**{**base, **extra})  # type: ignore[arg-type]


RECORDS = [
    record("apiKey", REVOKED),
    record(
        "apiKey",
        GRACE,
        seed="2",  # each record its own key, as a ledger holds them
        revoke_at=T0 + dt.timedelta(hours=1),
        sealed_with=("a" * 64, "b" * 64),
    ),
    record(
        "apiKey",
        ACTIVE,
        seed="3",
        actor='Zoë \u2028 \x85 "quoted" \\ <z@sealer.invalid>',
        expires=None,
    ),
    record("other", ACTIVE, actor=""),
]


def test_one_line_a_record_and_the_same_records_back() -> None:
    text = ledger.dump("prod-eu", RECORDS)
    lines = text.splitlines()
    assert lines[0] == ledger.HEADER.strip() and lines[1:3] == ['env: "prod-eu"', "keys:"]
    assert len(lines) == 3 + len(RECORDS) and all(line.startswith("  - {") for line in lines[3:])
    assert ledger.parse("prod-eu", text, "ledger") == RECORDS


def test_yaml_reads_the_same_data_as_the_json_fast_path() -> None:
    text = ledger.dump("prod-eu", RECORDS)
    doc = yamlio.load_documents(text, "ledger")[0]
    assert doc["env"] == "prod-eu"
    assert [KeyRecord.from_dict({**item, "env": "prod-eu"}) for item in doc["keys"]] == RECORDS


def test_a_hand_edited_block_yaml_ledger_still_loads(tmp_path: Path) -> None:
    items = []
    for rec in RECORDS:
        data = rec.as_dict()
        del data["env"]
        items.append(data)
    text = ledger.HEADER + "# reviewed by hand\n" + yamlio.dump({"env": "prod-eu", "keys": items})
    path = layout.ledger_path(tmp_path, "prod-eu")
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    assert ledger.load(tmp_path, "prod-eu") == RECORDS


def test_a_comment_on_a_record_line_falls_back_to_yaml() -> None:
    lines = ledger.dump("prod-eu", RECORDS).splitlines()
    lines[3] += "  # revoked after the incident"
    assert ledger.parse("prod-eu", "\n".join(lines) + "\n", "ledger") == RECORDS


@pytest.mark.parametrize(
    "text",
    [
        "keys: 3\n",
        ledger.HEADER + 'env: "prod-eu"\nkeys:\n  - {"name": "apiKey"\n',
        ledger.HEADER + 'env: "prod-eu"\nkeys:\n  - {"name": "apiKey"}\n',
        ledger.HEADER + 'env: "prod-eu"\nkeys:\n  - [1, 2]\n',
        # a second document, its records read by no one (check passed the file)
        ledger.dump("prod-eu", RECORDS[:1]) + "---\n" + ledger.dump("prod-eu", RECORDS[1:]),
    ],
)
def test_a_broken_ledger_is_bad_input_naming_it(text: str) -> None:
    with pytest.raises(BadInput, match="ledger/prod-eu.yaml"):
        ledger.parse("prod-eu", text, "ledger/prod-eu.yaml")
    assert parse_ledger("prod-eu", text) == []  # review reports it elsewhere, and goes on


@pytest.mark.parametrize("status", ["Revoked", "revoked ", "valid", "", "null"])
def test_a_status_sealer_never_gives_is_refused_not_read_as_valid(status: str) -> None:
    """`effective_status` reads any status but pending, revoked and grace as a valid key: a hand
    edit (or a pull request) spelling `revoked` another way must not bring a key back."""
    text = ledger.dump("prod-eu", [record("apiKey", ACTIVE)])
    text = text.replace('"status": "active"', f'"status": "{status}"')
    with pytest.raises(BadInput, match="unknown status"):
        ledger.parse("prod-eu", text, "ledger/prod-eu.yaml")


@pytest.mark.parametrize("created", ["null", '""'])
def test_a_record_without_a_creation_time_is_refused_not_read_as_created_now(created: str) -> None:
    """A record with `created: null` was read as created at this moment: its key never aged, so
    `check` passed it and `rotate --due` never rotated it, however old it was."""
    text = ledger.dump("prod-eu", [record("apiKey", ACTIVE)])
    text = text.replace('"created": "2026-01-02T03:04:05Z"', f'"created": {created}')
    assert "2026-01-02T03:04:05Z" not in text.split('"expires"')[0]
    with pytest.raises(BadInput, match="bad key record.*no creation time"):
        ledger.parse("prod-eu", text, "ledger/prod-eu.yaml")


def test_a_field_given_twice_in_a_record_is_refused() -> None:
    """A record line exactly as sealer writes it but with `"status"` twice: json took the last
    (revoked, where a reviewer reads active) while YAML, for any other header, refused it."""
    text = ledger.dump("prod-eu", [record("apiKey", ACTIVE)])
    text = text.replace('"status": "active"', '"status": "active", "status": "revoked"')
    with pytest.raises(BadInput, match="key 'status' appears twice in one mapping"):
        ledger.parse("prod-eu", text, "ledger/prod-eu.yaml")


def test_a_key_id_listed_twice_is_refused() -> None:
    """A second record under the current key's id (another fingerprint, in grace): `keys revoke`
    of that id rewrote the real key's record into a copy of the other, its fingerprint gone."""
    first = record("apiKey", GRACE, revoke_at=T0 + dt.timedelta(days=1))
    twin = dataclasses.replace(record("apiKey", ACTIVE), fingerprint="ab" * 32)
    assert first.key_id == twin.key_id and first.fingerprint != twin.fingerprint
    with pytest.raises(BadInput, match=f"{first.key_id}.*listed twice"):
        ledger.parse("prod-eu", ledger.dump("prod-eu", [first, twin]), "ledger/prod-eu.yaml")


@pytest.mark.parametrize(
    "forged",
    [
        {"key_id": "kid_000000000000"},  # an id of another key
        {"fingerprint": "AB" * 32},  # not a SHA-256 as sealer writes it
        {"fingerprint": "ab" * 31},
    ],
)
def test_a_key_id_that_is_not_its_fingerprints_is_refused(forged: dict[str, str]) -> None:
    """The key id is derived from the fingerprint: one that is not (a hand edit naming the
    current key's id on another key's record) would have `keys revoke ID` revoke another key."""
    forged_record = dataclasses.replace(record("apiKey", ACTIVE), **forged)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="key id is not its fingerprint's"):
        ledger.parse("prod-eu", ledger.dump("prod-eu", [forged_record]), "ledger/prod-eu.yaml")


def test_no_ledger_is_no_records(tmp_path: Path) -> None:
    assert ledger.load(tmp_path, "dev") == []
    assert ledger.parse("dev", ledger.dump("dev", []), "ledger") == []


def test_a_missing_ledger_is_expected_once_the_environment_holds_keys(tmp_path: Path) -> None:
    """No ledger and nothing else (what `sealer init` leaves): no records. A sealed file or a
    key registry of the environment (here outside any Git repository) says keys were issued."""
    assert ledger.load_expected(tmp_path, "dev") == []
    (tmp_path / "registry" / "dev").mkdir(parents=True)
    assert ledger.load_expected(tmp_path, "dev") == []  # an empty folder holds no key
    for kept in ("sealed/dev/.gitkeep", "registry/dev/README.md"):  # nor one kept for a GitOps app
        (tmp_path / kept).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / kept).write_text("")
    assert ledger.load_expected(tmp_path, "dev") == []
    (tmp_path / "registry" / "dev" / "dev.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(BadInput, match=r"^ledger/dev.yaml is missing, but registry/dev/ holds dev's keys"):
        ledger.load_expected(tmp_path, "dev")
    assert ledger.load(tmp_path, "dev") == []  # what a writer starts from is unchanged


def test_a_folder_head_holds_at_a_missing_ledger_is_held(tmp_path: Path) -> None:
    """HEAD holding a folder at ledger/dev.yaml that the working tree lost: something to restore
    (as `cat-file -e` said), not an environment never rotated whose key findings are warnings."""
    from support.git import commit_all, init_repo

    root = init_repo(tmp_path / "repo")
    (root / "ledger" / "dev.yaml").mkdir(parents=True)
    (root / "ledger" / "dev.yaml" / "x").write_text("x\n")
    commit_all(root, "a folder where the ledger was")
    (root / "ledger" / "dev.yaml" / "x").unlink()
    (root / "ledger" / "dev.yaml").rmdir()
    assert ledger.held_at_head(root, ["dev", "staging"]) == {"dev": True, "staging": False}
    with pytest.raises(BadInput, match=r"^ledger/dev.yaml is missing, but HEAD holds it"):
        ledger.load_expected(root, "dev")


ODD_TEXT = ["", "é ✓ 漢字", '"\\', "\x85\u2028\u2029\x7f\x00\ufeff", "a\nb\tc", "null"]


@pytest.mark.parametrize("text", ODD_TEXT)
def test_each_record_line_is_the_json_of_its_fields(text: str) -> None:
    """`dump` writes each record's line field by field: the same text as `flow_json` of the
    record's `as_dict` (but its env), for every field, odd text and missing times included."""
    records = [
        record(
            text, ACTIVE, actor=text, sealed_with=(text, "fp"), sealed=((text, "a" * 64), ("b", "0" * 64))
        ),
        record("b", GRACE, actor=text, expires=None, revoke_at=T0, sealed_with=()),
    ]
    lines = ledger.dump("prod-eu", records).splitlines()[3:]

    wanted = [{k: v for k, v in r.as_dict().items() if k != "env"} for r in records]
    wanted[0]["sealed"] = dict(records[0].sealed)  # only the ledger writes it, and only when recorded
    assert lines == [f"  - {yamlio.flow_json(data)}" for data in wanted]
    assert '"sealed"' not in lines[1]  # a record without digests reads as an older sealer wrote it
    parsed = ledger.parse("prod-eu", ledger.dump("prod-eu", records), "t")
    assert parsed == records
    assert [r.sealed for r in parsed] == [r.sealed for r in records]  # not compared by ==


@pytest.mark.parametrize("sealed", ['{"c": "abc"}', '["c"]', '{"c": 1}'])
def test_a_sealed_digest_that_is_no_sha256_is_refused(sealed: str) -> None:
    text = ledger.dump("prod-eu", [record("apiKey", ACTIVE, sealed=(("c", "a" * 64),))])
    with pytest.raises(ConfigError, match="bad key record"):
        ledger.parse("prod-eu", text.replace(f'{{"c": "{"a" * 64}"}}', sealed), "t")


def test_a_new_status_keeps_every_other_field() -> None:
    old = record("apiKey", ACTIVE, sealed_with=("fp",), revoke_at=T0, sealed=(("c", "a" * 64),))

    new = old.with_status(GRACE, T0 + dt.timedelta(days=1))

    assert new == dataclasses.replace(old, status=GRACE, revoke_at=T0 + dt.timedelta(days=1))
    assert new.sealed == old.sealed  # not compared by ==
    assert all(getattr(new, f.name) for f in dataclasses.fields(new))  # no field left at a default


def test_a_ledger_is_read_with_no_json_decoder_built_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`json.loads` with a hook builds a decoder a call: more than a record line's parse, and a
    --due reads every ledger before it plans."""
    text = ledger.dump("prod-eu", [record(f"key{i}", ACTIVE) for i in range(20)])
    built: list[object] = []
    real_init = json.JSONDecoder.__init__

    def counted(self: json.JSONDecoder, *args: object, **named: object) -> None:
        built.append(self)
        real_init(self, *args, **named)  # type: ignore[arg-type]

    monkeypatch.setattr(json.JSONDecoder, "__init__", counted)
    assert len(ledger.parse("prod-eu", text, "ledger")) == 20
    assert built == []


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "2026-01-02T05:04:05+02:00"])
def test_a_time_reads_as_the_same_aware_utc_moment_every_time(text: str) -> None:
    assert parse_iso(text) == parse_iso(text) == T0
    assert parse_iso(text).utcoffset() is not None  # type: ignore[union-attr]
