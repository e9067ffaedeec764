from __future__ import annotations

import json
from typing import Any

from sealer import provenance
from sealer.provenance import CERT_ANNOTATION, OTHER_CERTS_ANNOTATION, UNKNOWN


def test_entries_without_a_record_are_unknown() -> None:
    assert provenance.sealed_with(None, ["a"]) == {"a": UNKNOWN}
    assert provenance.sealed_with({CERT_ANNOTATION: "fp1"}, ["a", "b"]) == {"a": "fp1", "b": "fp1"}


def test_record_keeps_what_other_entries_were_sealed_with() -> None:
    annotations: dict[str, Any] = {}
    provenance.record(annotations, ["a", "b"], ["a", "b"], "old")
    assert annotations == {CERT_ANNOTATION: "old"}
    provenance.record(annotations, ["b", "c"], ["a", "b", "c"], "new")
    assert annotations[CERT_ANNOTATION] == "new"
    assert json.loads(annotations[OTHER_CERTS_ANNOTATION]) == {"a": "old"}
    assert provenance.sealed_with(annotations, ["a", "b", "c"]) == {"a": "old", "b": "new", "c": "new"}


def test_resealing_everything_drops_the_exceptions() -> None:
    annotations: dict[str, Any] = {CERT_ANNOTATION: "new", OTHER_CERTS_ANNOTATION: '{"a": "old"}'}
    provenance.record(annotations, ["a"], ["a", "b"], "new")
    assert annotations == {CERT_ANNOTATION: "new"}


def test_a_broken_exceptions_annotation_makes_every_entry_unknown() -> None:
    """Not the main certificate's: nothing readable says which certificate sealed any entry."""
    for broken in ("not json", "[1, 2]", '{"a": 1}', "", None):
        annotations = {CERT_ANNOTATION: "fp", OTHER_CERTS_ANNOTATION: broken}
        assert provenance.sealed_with(annotations, ["a", "b"]) == {"a": UNKNOWN, "b": UNKNOWN}
        assert provenance.unreadable(annotations)
    assert provenance.unreadable({CERT_ANNOTATION: "fp"}) is None
    assert provenance.unreadable({CERT_ANNOTATION: "fp", OTHER_CERTS_ANNOTATION: "{}"}) is None


def test_recording_over_a_broken_annotation_keeps_the_others_unknown() -> None:
    annotations: dict[str, Any] = {CERT_ANNOTATION: "old", OTHER_CERTS_ANNOTATION: "not json"}
    provenance.record(annotations, ["a"], ["a", "b"], "new")
    assert json.loads(annotations[OTHER_CERTS_ANNOTATION]) == {"b": UNKNOWN}
    assert provenance.sealed_with(annotations, ["a", "b"]) == {"a": "new", "b": UNKNOWN}
