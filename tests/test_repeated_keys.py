"""A JSON field given twice is refused by every reader of JSON someone else may write: `json.loads`
takes the last value, where a reviewer or another tool may take the first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealer import escrow, journal, provenance, registry, registry_delivery, strictjson
from sealer.backends.auth0 import ClientTarget
from sealer.errors import BadInput
from sealer.forge import ci_default_branch
from sealer.review import construct
from sealer.scan import baseline

FP = "ab" * 32
OTHER = "cd" * 32


def test_a_last_seen_serial_giving_a_field_twice_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "seen.json"
    state.write_text(
        json.dumps({"format": registry_delivery.STATE_FORMAT, "env": "staging", "serial": 9})[:-1]
        + ', "serial": 1}'
    )
    with pytest.raises(registry.RegistryError, match="is not a last-seen serial of staging"):
        registry_delivery.read_seen(state, "staging", init=False)


def test_an_escrowed_key_list_giving_a_field_twice_is_damaged(tmp_path: Path) -> None:
    secrets = '[{"name": "a", "name": "b", "tls.crt": "", "tls.key": "", "fingerprint": ""}]'
    with pytest.raises(BadInput, match="the escrowed key list is damaged"):
        escrow._restore_list("vault:secret/x", {"secrets": secrets}, 1, tmp_path / "out", "kube-system")
    assert not (tmp_path / "out").exists()


def test_a_scan_baseline_giving_a_field_twice_is_refused() -> None:
    entry = {"fingerprint": "f" * 64, "rule": "generic-secret-assignment", "path": "app.env"}
    text = json.dumps({"version": 1, "findings": [entry]})[:-1] + ', "findings": []}'
    with pytest.raises(BadInput, match="baseline gives a field twice"):
        baseline._parse(text, ".sealer/scan-baseline")


def test_a_journal_giving_a_field_twice_is_unreadable(tmp_path: Path) -> None:
    fields = '"kind": "rotate", "envs": [], "files": [], "branch": null, "parent": null, "message": "m"'
    journal.path(tmp_path).write_text('{"phase": "committed", "phase": "prepared", ' + fields + "}")
    with pytest.raises(BadInput, match="of an interrupted sealer run is unreadable"):
        journal.load(tmp_path)


def test_a_commit_mark_giving_a_field_twice_is_unreadable(tmp_path: Path) -> None:
    saved = journal.Journal(journal.ROTATE, journal.PREPARED, [], [], "b", "p" * 40, "m")
    journal.save(tmp_path, saved)
    journal.committed_path(tmp_path).write_text(
        f'{{"commit": "{"1" * 40}", "commit": "{"2" * 40}", "branch": "b", "parent": "{"p" * 40}"}}'
    )
    with pytest.raises(BadInput, match="of an interrupted sealer run is unreadable"):
        journal.load(tmp_path)


def test_a_ci_event_payload_giving_a_field_twice_is_bad_input(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"repository": {"default_branch": "main", "default_branch": "pr-branch"}}')
    with pytest.raises(BadInput, match="gives a field twice"):
        ci_default_branch({"GITHUB_EVENT_PATH": str(event)})


def test_an_auth0_document_giving_a_field_twice_is_unreadable() -> None:
    metadata = {"sealer_keys_0": '{"format": 1, "format": 2}'}
    assert ClientTarget("client").decode(metadata) == {"unreadable": True}


def test_a_provenance_annotation_giving_an_entry_twice_is_unreadable_like_a_broken_one() -> None:
    """Unreadable as `not json` is: every entry's certificate is unknown, never the last claim."""
    annotations = {
        provenance.CERT_ANNOTATION: FP,
        provenance.OTHER_CERTS_ANNOTATION: f'{{"a": "{FP}", "a": "{OTHER}"}}',
    }
    assert provenance.sealed_with(annotations, ["a"]) == {"a": provenance.UNKNOWN}


def test_review_refuses_a_provenance_annotation_giving_an_entry_twice() -> None:
    annotations = {
        provenance.CERT_ANNOTATION: FP,
        provenance.OTHER_CERTS_ANNOTATION: f'{{"a": "{FP}", "a": "{OTHER}"}}',
    }
    assert not construct._provenance_ok(annotations, {"a": "x"})
    annotations[provenance.OTHER_CERTS_ANNOTATION] = f'{{"a": "{OTHER}"}}'
    assert construct._provenance_ok(annotations, {"a": "x"})


@pytest.mark.parametrize("deep", ["[" * 100_000, '{"a":' * 100_000], ids=["array", "object"])
def test_json_nested_beyond_the_parser_is_refused_as_not_json_not_a_traceback(
    deep: str, tmp_path: Path
) -> None:
    """`json` raises RecursionError past its nesting limit: strictjson's readers catch ValueError,
    so a sealed file's annotation or a baseline nested so deep would be a traceback."""
    with pytest.raises(ValueError, match="nested too deeply"):
        strictjson.loads(deep)
    assert provenance.sealed_with({provenance.OTHER_CERTS_ANNOTATION: deep}, ["a"]) == {"a": "unknown"}
    with pytest.raises(BadInput, match="the escrowed key list is damaged"):
        escrow._restore_list("vault:secret/x", {"secrets": deep}, 1, tmp_path / "out", "kube-system")
