"""#16: the key registry of the k8s-secrets store — its format and serial, GitOps delivery end
to end in a temp repo, the reference verifier, and direct delivery through the real
kubernetes client against the fake Kubernetes API (tests/fake_kube.py)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from support import rotated_repos
from support.cli import sealer as cli
from support.fake_http import Request, Response
from support.fake_kube import FakeKube
from support.fake_kube import status as kube_status
from support.git import commit_all, git
from support.repos import (
    active,
    assert_consistent,
    ledger_records,
    run_sealer,
    unseal_values,
)

from sealer import apikey, config, ledger, registry
from sealer.backends import open_store
from sealer.errors import BackendError
from sealer.records import ACTIVE, EXPIRED, GRACE, PENDING, REVOKED, UNKNOWN, VALID, KeyRecord, utcnow

STAGING = "registry/staging/staging.yaml"
PRODUCTION = "registry/production/production.yaml"
HOUR = dt.timedelta(hours=1)


# -- the format and the serial ---------------------------------------------------------------


def record(status: str, revoke_at: dt.datetime | None = None, name: str = "apiKey") -> KeyRecord:
    fingerprint = apikey.fingerprint(apikey.generate("dev"))
    now = utcnow()
    return KeyRecord(
        "dev",
        name,
        apikey.key_id(fingerprint),
        fingerprint,
        now,
        now + 90 * 24 * HOUR,
        status,
        "t",
        revoke_at,
    )


SOON = utcnow() + 24 * HOUR


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (PENDING, ACTIVE),
        (ACTIVE, REVOKED),
        (ACTIVE, GRACE),
        (GRACE, REVOKED),
        (PENDING, REVOKED),
        ("accepted", ACTIVE),
    ],
)
def test_every_status_change_sealer_makes_raises_the_serial(before: str, after: str) -> None:
    old = record(before, SOON if before == GRACE else None)
    new = old.with_status(after, SOON if after == GRACE else utcnow())
    assert registry.serial_of([new]) > registry.serial_of([old])


def test_a_shortened_grace_raises_the_serial_and_a_new_key_too() -> None:
    graced = record(GRACE, SOON)
    shorter = graced.with_status(GRACE, SOON - dt.timedelta(seconds=1))
    assert registry.serial_of([shorter]) > registry.serial_of([graced])
    assert registry.serial_of([graced, record(ACTIVE)]) > registry.serial_of([graced])
    assert registry.serial_of([graced, record(PENDING)]) == registry.serial_of([graced])  # not listed


def test_the_registry_lists_valid_keys_only_and_is_deterministic() -> None:
    keys = [record(ACTIVE), record(GRACE, SOON, "oldKey"), record(REVOKED), record(PENDING, name="x")]
    built = registry.build("dev", "east", keys)
    assert {e.key_id: e.revoke_at for e in built.keys} == {
        keys[0].key_id: None,
        keys[1].key_id: registry.iso(SOON),
    }
    assert {e.sha256 for e in built.keys} == {keys[0].fingerprint, keys[1].fingerprint}
    assert registry.build("dev", "east", list(reversed(keys))).payload() == built.payload()
    assert registry.parse_payload(built.payload(), "t") == built


HEAD = '{"format": "sealer.dev/key-registry/v1", "env": "dev", "cluster": "c", '


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("not json", "not a readable key registry"),
        ('{"format": "other/v9"}', "not a key registry of format"),
        (
            HEAD + '"serial": -1, "keys": []}',
            "readable",
        ),
        (
            HEAD + '"serial": true, "keys": []}',
            "readable",
        ),
        (
            HEAD + '"serial": 1, "keys": [{}]}',
            "readable",
        ),
        (
            '{"format": "sealer.dev/key-registry/v1", "env": "dev", "cluster": "c", "serial": 1, "keys": '
            '[{"name": "a", "key_id": "k", "sha256": "XYZ", "expires": null, "revoke_at": null}]}',
            "readable",
        ),
        ("[1, 2]", "readable"),
    ],
)
def test_a_malformed_registry_is_refused(payload: str, problem: str) -> None:
    with pytest.raises(registry.RegistryError, match=problem):
        registry.parse_payload(payload, "reg")


@pytest.mark.parametrize(
    "twice", ['"revoke_at": null, "revoke_at": "2030-01-01T00:00:00Z"', '"serial": 1, "serial": 9']
)
def test_a_registry_giving_a_key_twice_is_refused(twice: str) -> None:
    """json would take the last value, a reviewer reads the first: neither is trusted (#14)."""
    entry = '{"name": "a", "key_id": "k", "sha256": "' + "a" * 64 + '", "expires": null, '
    if "revoke_at" in twice:
        payload = HEAD + '"serial": 1, "keys": [' + entry + twice + "}]}"
    else:
        payload = HEAD + twice + ', "keys": [' + entry + '"revoke_at": null}]}'
    assert registry.parse_payload(payload.replace(twice, twice.split(", ")[0]), "reg").serial == 1
    with pytest.raises(registry.RegistryError, match="reg: not a readable key registry"):
        registry.parse_payload(payload, "reg")


@pytest.mark.parametrize(
    ("accepted", "offset", "problem"),
    [
        ("kid_unlisted", "0", "annotations"),
        ("", "-1", "annotations"),
        ("", "many", "annotations"),
        ("", "99999999999", "below its annotations' share"),
    ],
)
def test_bad_direct_delivery_annotations_are_refused(accepted: str, offset: str, problem: str) -> None:
    built = registry.build("dev", "c", [record(ACTIVE)])
    doc = {
        "kind": "ConfigMap",
        "metadata": {
            "annotations": {registry.ACCEPTED_ANNOTATION: accepted, registry.OFFSET_ANNOTATION: offset}
        },
        "data": {registry.DATA_KEY: built.payload()},
    }
    with pytest.raises(registry.RegistryError, match=problem):
        registry.from_object(doc, "live")
    doc["metadata"] = {"annotations": {registry.ACCEPTED_ANNOTATION: built.keys[0].key_id}}
    assert registry.from_object(doc, "live").accepted == (built.keys[0].key_id,)


def test_a_missing_or_unreadable_registry_file_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match="cannot read key registry"):
        registry.load(tmp_path / "absent.yaml")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\n")
    with pytest.raises(registry.RegistryError, match="no registry.json entry"):
        registry.load(tmp_path / "cm.yaml")
    (tmp_path / "two.yaml").write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(registry.RegistryError, match="expected one ConfigMap or Secret"):
        registry.load(tmp_path / "two.yaml")


# -- GitOps delivery, end to end -------------------------------------------------------------


# The repo every test below rotates in: a copy of staging and production, each rotated once.
controllers, keys, template, repo = (
    rotated_repos.controllers,
    rotated_repos.keys,
    rotated_repos.template,
    rotated_repos.repo,
)


def committed(repo: Path, rel: str, rev: str = "HEAD") -> registry.Registry:
    path = repo / ".committed.yaml"
    path.write_text(git(repo, "show", f"{rev}:{rel}"))
    try:
        return registry.load(path)
    finally:
        path.unlink()


def fingerprints(reg: registry.Registry) -> dict[str, str | None]:
    """sha256 -> revoke_at of every key the registry lists."""
    return {entry.sha256: entry.revoke_at for entry in reg.keys}


def rotate(repo: Path, *args: str) -> None:
    result = cli(repo, "rotate", "staging", "--no-branch", *args)
    assert result.exit_code == 0, (result.output, result.exception)


def test_rotation_commits_the_registry_with_the_ledger(repo: Path, keys: list[Any]) -> None:
    old = active(ledger_records(repo, "staging"))
    production_before = (repo / PRODUCTION).read_bytes()
    serial_before = committed(repo, STAGING).serial
    rotate(repo)
    new = active(ledger_records(repo, "staging"))
    changed = set(git(repo, "show", "--name-only", "--format=", "HEAD").split())
    assert {"ledger/staging.yaml", STAGING} <= changed and PRODUCTION not in changed
    reg = committed(repo, STAGING)
    assert new.fingerprint in fingerprints(reg) and old.fingerprint not in fingerprints(reg)
    assert apikey.fingerprint(unseal_values(repo, "staging", keys)["apiKey"]) in fingerprints(reg)
    assert reg.serial > serial_before and (reg.env, reg.cluster) == ("staging", "staging")
    assert (repo / PRODUCTION).read_bytes() == production_before  # another environment's, untouched
    doc = yaml_doc(repo / STAGING)
    assert (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"]) == (
        "ConfigMap",
        "staging",
        "engine-api-key-registry",
    )
    assert doc["metadata"]["annotations"][registry.SERIAL_ANNOTATION] == str(reg.serial)
    assert_consistent(repo, "staging", keys)


def yaml_doc(path: Path) -> Any:
    from sealer import yamlio

    return yamlio.load_documents(path.read_text(), str(path))[0]


def test_grace_keeps_the_old_key_listed_with_its_revoke_at_and_the_serial_grows(repo: Path) -> None:
    serials = [committed(repo, STAGING).serial]
    old = active(ledger_records(repo, "staging"))
    rotate(repo, "--grace", "24h")
    serials.append(committed(repo, STAGING).serial)
    graced = next(r for r in ledger_records(repo, "staging") if r.key_id == old.key_id)
    assert graced.status == GRACE and graced.revoke_at is not None
    assert fingerprints(committed(repo, STAGING))[old.fingerprint] == registry.iso(graced.revoke_at)
    rotate(repo)  # the graced key stays in grace; the one it replaced is revoked
    serials.append(committed(repo, STAGING).serial)
    result = cli(
        repo, "keys", "revoke", "staging", active(ledger_records(repo, "staging")).key_id, "--no-branch"
    )
    assert result.exit_code == 0, result.output
    serials.append(registry.load(repo / STAGING).serial)  # `keys revoke` re-creates the file
    assert serials == sorted(set(serials)), serials
    assert (
        registry.load(repo / STAGING).keys
        == registry.build("staging", "staging", ledger.load(repo, "staging")).keys
    )


def test_render_re_creates_the_registry_byte_for_byte(repo: Path) -> None:
    before = (repo / STAGING).read_bytes()
    assert cli(repo, "render", "staging").exit_code == 0
    assert (repo / STAGING).read_bytes() == before
    (repo / STAGING).unlink()
    assert cli(repo, "render", "staging").exit_code == 0
    assert (repo / STAGING).read_bytes() == before
    assert git(repo, "status", "--porcelain") == ""


def test_check_reports_a_missing_or_stale_registry(repo: Path) -> None:
    (repo / STAGING).unlink()
    result = cli(repo, "check", "staging", "-o", "json")
    found = [p for p in json.loads(result.stdout)["problems"] if p["rule"] == "key-registry"]
    assert result.exit_code == 1 and [p["message"] for p in found] == [f"key registry {STAGING} is missing"]
    git(repo, "checkout", "--", STAGING)
    records = ledger.load(repo, "staging")
    ledger.save(repo, "staging", [r.with_status(REVOKED, utcnow()) for r in records])
    result = cli(repo, "check", "staging", "-o", "json")
    found = [p for p in json.loads(result.stdout)["problems"] if p["rule"] == "key-registry"]
    assert (
        len(found) == 1 and "is stale" in found[0]["message"] and found[0]["fix"].startswith("sealer render")
    )


# -- the reference verifier ------------------------------------------------------------------


def verify(repo: Path, key: str, registry_file: Path, state: Path, *extra: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from sealer.cli import cli as group

    args = ["keys", "verify", "staging", "--registry", str(registry_file), "--state", str(state), *extra]
    result = CliRunner().invoke(group, args, input=key + "\n")
    assert key not in result.output
    return result.exit_code, result.output.strip() if result.exit_code in (0, 1) else result.output


def test_the_reference_verifier(repo: Path, keys: list[Any], tmp_path: Path) -> None:
    first = unseal_values(repo, "staging", keys)["apiKey"]
    old_registry = tmp_path / "old.yaml"
    old_registry.write_bytes((repo / STAGING).read_bytes())
    state = tmp_path / "seen.json"
    assert verify(repo, first, old_registry, state)[0] == 2  # no last-seen serial: fail closed
    assert verify(repo, first, old_registry, state, "--init-state")[1].startswith("valid")
    rotate(repo, "--grace", "24h")  # first: in grace for 24 hours
    second = unseal_values(repo, "staging", keys)["apiKey"]
    rotate(repo)  # second: revoked at once (out of the registry); first: still in grace
    third = unseal_values(repo, "staging", keys)["apiKey"]
    now_registry = repo / STAGING
    assert verify(repo, third, now_registry, state)[1].startswith("valid")
    assert verify(repo, first, now_registry, state)[1].startswith("valid")
    assert verify(repo, second, now_registry, state)[1].startswith("unknown")  # revoked: not listed
    assert verify(repo, apikey.generate("staging"), now_registry, state)[1].startswith("unknown")
    assert json.loads(state.read_text())["serial"] == registry.load(now_registry).serial
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    # the rolled-back registry: refused whatever the key, once a newer one was seen
    stale = f"stale-serial (registry serial {registry.load(old_registry).serial})"
    assert verify(repo, first, old_registry, state) == (1, stale)
    assert verify(repo, third, old_registry, state) == (1, stale)
    current, seen = registry.load(now_registry), json.loads(state.read_text())["serial"]
    graced = apikey.fingerprint(first)
    assert registry.verify(current, "staging", graced, seen, utcnow()) == VALID
    assert registry.verify(current, "staging", graced, seen, utcnow() + 25 * HOUR) == REVOKED  # revoke_at
    assert registry.verify(current, "staging", apikey.fingerprint(third), seen, utcnow() + 25 * HOUR) == VALID
    lapsed = dataclasses.replace(
        current,
        keys=tuple(dataclasses.replace(e, expires=registry.iso(utcnow() - HOUR)) for e in current.keys),
    )
    assert registry.verify(lapsed, "staging", apikey.fingerprint(third), seen, utcnow()) == EXPIRED
    assert registry.verify(current, "staging", "not-a-fingerprint", seen, utcnow()) == UNKNOWN
    with pytest.raises(registry.RegistryError, match="production's, not staging's"):
        registry.verify(registry.load(repo / PRODUCTION), "staging", graced, 0, utcnow())


def test_the_verifier_fails_closed(repo: Path, keys: list[Any], tmp_path: Path) -> None:
    key = unseal_values(repo, "staging", keys)["apiKey"]
    state = tmp_path / "seen.json"
    code, output = verify(repo, key, tmp_path / "absent.yaml", state, "--init-state")
    assert code == 2 and "cannot read key registry" in output and len(output.strip().splitlines()) == 1
    (tmp_path / "garbage.yaml").write_text("{not: [json")
    assert verify(repo, key, tmp_path / "garbage.yaml", state, "--init-state")[0] == 2
    state.write_text("not a state")
    code, output = verify(repo, key, repo / STAGING, state)
    assert code == 2 and "not a last-seen serial" in output
    state.write_text(
        json.dumps({"format": "sealer.dev/key-registry-state/v1", "env": "production", "serial": 1})
    )
    assert verify(repo, key, repo / STAGING, state)[0] == 2
    code, output = verify(repo, key, repo / PRODUCTION, tmp_path / "fresh.json", "--init-state")
    assert code == 2 and "production's, not staging's" in output


# -- a registry mounted in a Pod (a ConfigMap or Secret volume) ----------------------------------

STAMP = "..2026_12_05_11_35_48.123456789"


def mounted(folder: Path, payload: bytes, stamp: str = STAMP) -> Path:
    """A ConfigMap volume as the kubelet's atomic writer lays it out: the payload in a timestamped
    folder, `..data` linked to it, and the visible file linked through `..data`."""
    folder.mkdir()
    (folder / stamp).mkdir()
    (folder / stamp / registry.DATA_KEY).write_bytes(payload)
    (folder / "..data").symlink_to(stamp)
    (folder / registry.DATA_KEY).symlink_to(f"..data/{registry.DATA_KEY}")
    return folder / registry.DATA_KEY


def test_the_verifier_reads_a_registry_mounted_in_a_pod(repo: Path, keys: list[Any], tmp_path: Path) -> None:
    key = unseal_values(repo, "staging", keys)["apiKey"]
    first = registry.load(repo / STAGING)
    path = mounted(tmp_path / "mount", first.payload().encode())
    state = tmp_path / "seen.json"
    assert verify(repo, key, path, state, "--init-state")[1].startswith("valid")
    assert registry.load(path) == first
    # the kubelet's update: a new payload folder, `..data` swapped in one rename, the old one removed
    newer = dataclasses.replace(first, serial=first.serial + 1, keys=())
    stamp = "..2026_12_05_12_00_00.987654321"
    (tmp_path / "mount" / stamp).mkdir()
    (tmp_path / "mount" / stamp / registry.DATA_KEY).write_text(newer.payload())
    (tmp_path / "mount" / "..data_tmp").symlink_to(stamp)
    (tmp_path / "mount" / "..data_tmp").rename(tmp_path / "mount" / "..data")
    (tmp_path / "mount" / STAMP / registry.DATA_KEY).unlink()
    (tmp_path / "mount" / STAMP).rmdir()
    assert registry.load(path) == newer
    assert verify(repo, key, path, state) == (1, f"unknown (registry serial {newer.serial})")


def test_a_swap_between_opening_the_payload_folder_and_its_file_reads_the_new_one(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet swaps `..data` and empties the old folder right after the reader opened that
    folder: the reader follows `..data` once more and reads the new payload (no spurious error)."""
    from sealer import safeopen

    first = registry.load(repo / STAGING)
    path = mounted(tmp_path / "mount", first.payload().encode())
    newer = dataclasses.replace(first, serial=first.serial + 1, keys=())
    real, calls = safeopen.open_in, []

    def kubelet_swaps_first(dir_fd: int, name: str, shown: str) -> tuple[int, os.stat_result]:
        calls.append(name)
        if len(calls) == 2:  # the payload folder is open: now the kubelet's update lands
            stamp = "..2026_12_05_12_00_00.987654321"
            (path.parent / stamp).mkdir()
            (path.parent / stamp / registry.DATA_KEY).write_text(newer.payload())
            (path.parent / "..data_tmp").symlink_to(stamp)
            (path.parent / "..data_tmp").rename(path.parent / "..data")
            (path.parent / STAMP / registry.DATA_KEY).unlink()
            (path.parent / STAMP).rmdir()
        return real(dir_fd, name, shown)

    monkeypatch.setattr(safeopen, "open_in", kubelet_swaps_first)
    assert registry.load(path) == newer and len(calls) == 3


def _escape(mount: Path, outside: Path) -> None:
    (mount / registry.DATA_KEY).unlink()
    (mount / registry.DATA_KEY).symlink_to(f"../{outside.name}/{registry.DATA_KEY}")


def _chain_to_passwd(mount: Path, outside: Path) -> None:
    (mount / STAMP / registry.DATA_KEY).unlink()
    (mount / STAMP / registry.DATA_KEY).symlink_to("/etc/passwd")


def _absolute(mount: Path, outside: Path) -> None:
    (mount / registry.DATA_KEY).unlink()
    (mount / registry.DATA_KEY).symlink_to(outside / registry.DATA_KEY)


def _data_escapes(mount: Path, outside: Path) -> None:
    (mount / "..data").unlink()
    (mount / "..data").symlink_to(f"../{outside.name}")


def _stamp_is_a_link(mount: Path, outside: Path) -> None:
    (mount / "..data").unlink()
    (mount / "..2026_12_05_12_00_00.1").symlink_to(outside)
    (mount / "..data").symlink_to("..2026_12_05_12_00_00.1")


def _data_is_a_folder(mount: Path, outside: Path) -> None:
    (mount / "..data").unlink()
    (mount / "..data").mkdir()
    (mount / "..data" / registry.DATA_KEY).write_bytes((outside / registry.DATA_KEY).read_bytes())


def _payload_fifo(mount: Path, outside: Path) -> None:
    (mount / STAMP / registry.DATA_KEY).unlink()
    os.mkfifo(mount / STAMP / registry.DATA_KEY)


def _visible_fifo(mount: Path, outside: Path) -> None:
    (mount / registry.DATA_KEY).unlink()
    os.mkfifo(mount / registry.DATA_KEY)


def _other_name(mount: Path, outside: Path) -> None:
    (mount / registry.DATA_KEY).unlink()
    (mount / STAMP / "other.json").write_bytes((outside / registry.DATA_KEY).read_bytes())
    (mount / registry.DATA_KEY).symlink_to("..data/other.json")


@pytest.mark.parametrize(
    ("hostile", "why"),
    [
        (_escape, "not one of a ConfigMap or Secret volume"),
        (_absolute, "not one of a ConfigMap or Secret volume"),
        (_other_name, "not one of a ConfigMap or Secret volume"),
        (_data_escapes, "not one of a ConfigMap or Secret volume"),
        (_stamp_is_a_link, "not one of a ConfigMap or Secret volume"),
        (_data_is_a_folder, "not one of a ConfigMap or Secret volume"),
        (_chain_to_passwd, "is a symlink (sealer never follows symlinks)"),
        (_payload_fifo, "is a FIFO"),
        (_visible_fifo, "is a FIFO"),
    ],
)
def test_a_mount_shaped_otherwise_is_refused_in_one_line(
    repo: Path, keys: list[Any], tmp_path: Path, hostile: Any, why: str
) -> None:
    """Only the kubelet's shape is resolved; each variant points at a valid registry, so reading
    it would show as a verdict."""
    payload = registry.load(repo / STAGING).payload().encode()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / registry.DATA_KEY).write_bytes(payload)
    path = mounted(tmp_path / "mount", payload)
    hostile(tmp_path / "mount", outside)
    state = tmp_path / "seen.json"
    code, output = verify(repo, unseal_values(repo, "staging", keys)["apiKey"], path, state, "--init-state")
    assert code == 2 and len(output.strip().splitlines()) == 1, output
    assert output.startswith(f"sealer: cannot read key registry {path}") and why in output, output
    assert not state.exists()


# -- direct delivery through the Kubernetes API --------------------------------------------------

SECRET = ("staging", "engine-api-key-registry")


def go_direct(repo: Path, kubeconfig: Path, **options: str) -> None:
    with config.edit(repo) as doc:
        settings = {"delivery": "direct", "kubeconfig": str(kubeconfig), **options}
        doc["environments"]["staging"]["backend"] = {"kind": "k8s-secrets", "options": settings}
    commit_all(repo, "staging: direct delivery of the key registry")


def live(kube: FakeKube) -> registry.Registry | None:
    with kube.lock:
        secret = kube.secrets.get(SECRET)
    return None if secret is None else registry.from_object(secret, "live")


def finish(repo: Path, *args: str) -> dict[str, Any]:
    result = cli(repo, "rotate", *args, "-o", "json")
    assert result.exit_code == 0, (result.output, result.exception)
    return dict(json.loads(result.stdout))


def valid_in(records: list[KeyRecord]) -> dict[str, str | None]:
    """sha256 -> revoke_at of the keys a ledger's own registry lists."""
    return fingerprints(registry.build("staging", registry.CURRENT_CONTEXT, records))


def test_direct_rotation_creates_then_updates_the_registry_secret(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any]
) -> None:
    go_direct(repo, kubeconfig)
    before = ledger.load(repo, "staging")
    old = active(before)
    rotate(repo)
    new = active(ledger_records(repo, "staging"))
    first = live(kube_server)
    # rotate time: the new key accepted beside the old, which stays valid (nothing revoked yet)
    assert first is not None and fingerprints(first) == {**valid_in(before), new.fingerprint: None}
    assert first.accepted == (new.key_id,) and old.fingerprint in fingerprints(first)
    assert registry.check(first, old.fingerprint, utcnow()) == VALID
    assert registry.check(first, new.fingerprint, utcnow()) == VALID
    assert registry.serial_of(before) < first.serial < registry.serial_of(ledger.load(repo, "staging"))
    secret = kube_server.secrets[SECRET]
    assert secret["metadata"]["annotations"][registry.ACCEPTED_ANNOTATION] == new.key_id
    assert kube_server.requests_to("/namespaces/staging/secrets", "POST") == 1
    labels = secret["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/managed-by": "sealer",
        "sealer.dev/env": "staging",
        "sealer.dev/cluster": "current-context",
    }
    assert STAGING not in git(repo, "show", "--name-only", "--format=", "HEAD").split()  # none in Git
    finish(repo, "--finish")  # the deployed phase: the merged ledger, the old key revoked
    second = live(kube_server)
    assert second == registry.build("staging", registry.CURRENT_CONTEXT, ledger.load(repo, "staging"))
    assert second.serial > first.serial and old.fingerprint not in fingerprints(second)
    assert registry.check(second, old.fingerprint, utcnow()) == UNKNOWN
    assert kube_server.requests_to("/namespaces/staging/secrets/engine-api-key-registry", "PUT") == 1
    finish(repo, "--finish")  # idempotent: nothing to write
    assert kube_server.requests_to("/namespaces/staging/secrets/engine-api-key-registry", "PUT") == 1
    served = unseal_values(repo, "staging", keys)
    kube_server.add_secret("staging", "engine-api-key", {k: v.encode() for k, v in served.items()})
    report = json.loads(cli(repo, "status", "staging", "--kubeconfig", str(kubeconfig), "-o", "json").stdout)
    assert report["registries"] == [
        {
            "cluster": "current-context",
            "state": "in sync",
            "live_serial": second.serial,
            "ledger_serial": second.serial,
            "why": "",
        }
    ]


def test_status_with_a_context_reads_the_direct_registry_through_it(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any]
) -> None:
    """`--context` reads that one context alone: with no `contexts` option of the delivery, its
    registry too (it was read through the kubeconfig's current context, another cluster's)."""
    go_direct(repo, kubeconfig)
    rotate(repo)
    finish(repo, "--finish")
    served = unseal_values(repo, "staging", keys)
    kube_server.add_secret("staging", "engine-api-key", {k: v.encode() for k, v in served.items()})
    text = kubeconfig.read_text()
    kubeconfig.write_text(text.replace("current-context: admin", "current-context: stranger"))
    assert "current-context: stranger" in kubeconfig.read_text()
    asked = ("--kubeconfig", str(kubeconfig), "--context", "admin")
    result = cli(repo, "status", "staging", *asked, "-o", "json")
    report = json.loads(result.stdout)
    assert [(r["cluster"], r["state"], r["why"]) for r in report["registries"]] == [
        ("current-context", "in sync", "")
    ]
    assert result.exit_code == 0, result.output


def test_status_with_a_context_reads_the_direct_registry_through_the_secrets_kubeconfig(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's own kubeconfig names the cluster `ops`; the delivery's (where rotate writes)
    has no such context. `--context ops` names the cluster to look at: its registry is read
    where its Secret was, not reported as drift through a file that lacks the context."""
    go_direct(repo, kubeconfig)
    rotate(repo)
    finish(repo, "--finish")
    served = unseal_values(repo, "staging", keys)
    kube_server.add_secret("staging", "engine-api-key", {k: v.encode() for k, v in served.items()})
    mine = kubeconfig.parent / "mine"
    mine.write_text(kubeconfig.read_text().replace("admin", "ops"))
    result = cli(repo, "status", "staging", "--kubeconfig", str(mine), "--context", "ops", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["registries"]
    assert [(r["cluster"], r["state"], r["why"]) for r in rows] == [("current-context", "in sync", "")]
    monkeypatch.setenv("KUBECONFIG", str(mine))
    assert cli(repo, "status", "staging", "--context", "ops").exit_code == 0
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # no `ops` where the Secret is read: bad input
    refused = cli(repo, "status", "staging", "--context", "ops")
    assert refused.exit_code == 2 and refused.stdout == "", refused.output
    assert "ops" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_a_stale_resource_version_is_retried_on_fresh_state(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig)
    rotate(repo)
    touched: list[str] = []

    def someone_else_writes_first(request: Request) -> None:
        """A concurrent writer changes the object between our read and our replace, once."""
        if request.method == "PUT" and not touched:
            touched.append(request.path)
            with kube_server.lock:
                kube_server.bump(kube_server.secrets[SECRET])

    kube_server.before_request = someone_else_writes_first
    rotate(repo)
    assert touched and kube_server.requests_to("/secrets/engine-api-key-registry", "PUT") == 2
    found = live(kube_server)
    new = active(ledger_records(repo, "staging"))
    parent = ledger.parse("staging", git(repo, "show", "HEAD~1:ledger/staging.yaml"), "parent")
    assert found is not None and found.accepted == (new.key_id,)
    assert found.serial == registry.serial_of(parent) + 1  # the parent's ledger, one key accepted


def test_a_newer_live_registry_or_another_environments_is_never_overwritten(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, tmp_path: Path
) -> None:
    go_direct(repo, kubeconfig)
    rotate(repo)
    store = open_store("k8s-secrets", config.load(repo).env("staging").backend_options, repo)
    current = active(ledger_records(repo, "staging"))
    with kube_server.lock:
        secret = kube_server.secrets[SECRET]
        newer = dataclasses.replace(live(kube_server), serial=10**12)  # type: ignore[arg-type]
        secret["data"]["registry.json"] = base64.b64encode(newer.payload().encode()).decode()
    with pytest.raises(BackendError, match="newer than .* not overwritten"):
        store.activate("staging", "apiKey", current.key_id, None)
    with kube_server.lock:
        secret["metadata"]["labels"]["sealer.dev/env"] = "production"
    with pytest.raises(BackendError, match="is not the key registry of staging"):
        store.activate("staging", "apiKey", current.key_id, None)
    assert kube_server.requests_to("/secrets/engine-api-key-registry", "PUT") == 0


def test_rbac_forbidden_unauthorized_and_api_down_are_one_line(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig, contexts="viewer")
    options = config.load(repo).env("staging").backend_options
    current = active(ledger_records(repo, "staging"))
    store = open_store("k8s-secrets", options, repo)
    with pytest.raises(BackendError) as err:
        store.activate("staging", "apiKey", current.key_id, None)
    message = str(err.value)
    assert message.startswith("kubernetes: forbidden while reading Secret staging/engine-api-key-registry")
    assert "\n" not in message and kube_server.viewer_token not in message
    as_configmap = open_store("k8s-secrets", {**options, "registry_kind": "ConfigMap"}, repo)
    with pytest.raises(
        BackendError, match="forbidden while creating ConfigMap staging/engine-api-key-registry"
    ):
        as_configmap.activate("staging", "apiKey", current.key_id, None)  # may read, may not write
    stranger = open_store("k8s-secrets", {**options, "contexts": "stranger"}, repo)
    with pytest.raises(BackendError, match=r"rejected the credentials \(401\)"):
        stranger.revoke("staging", current.key_id, utcnow() + HOUR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = kubeconfig.parent / "closed"
    closed.write_text(kubeconfig.read_text().replace(f":{kube_server.port}", f":{port}"))
    down = open_store("k8s-secrets", {**options, "contexts": "admin", "kubeconfig": str(closed)}, repo)
    with pytest.raises(BackendError, match=f"cannot reach http://127.0.0.1:{port}"):
        down.revoke("staging", current.key_id, utcnow() + HOUR)  # the ledger has it already: publish only
    assert live(kube_server) is None


def test_a_rotation_killed_before_its_registry_is_written_finishes_on_the_rerun(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any]
) -> None:
    go_direct(repo, kubeconfig)
    rotate(repo)
    before = live(kube_server)
    done = run_sealer(
        repo,
        "rotate",
        "staging",
        "--no-branch",
        env={"SEALER_TEST": "1", "SEALER_FAULT": "before-accept:kill"},  # the store step, then the registry
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert live(kube_server) == before  # committed, not yet delivered
    assert registry.serial_of(ledger.load(repo, "staging")) > before.serial  # type: ignore[union-attr]
    rerun = cli(repo, "rotate", "staging", "--no-branch")
    assert rerun.exit_code == 0, rerun.output
    after = live(kube_server)
    new = active(ledger_records(repo, "staging"))
    assert after is not None and after.accepted == (new.key_id,) and after.serial > before.serial  # type: ignore[union-attr]
    finish(repo, "--finish")
    assert live(kube_server) == registry.build(
        "staging", registry.CURRENT_CONTEXT, ledger.load(repo, "staging")
    )


def test_status_tells_in_sync_pending_and_drift(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any]
) -> None:
    secret = unseal_values(repo, "staging", keys)
    kube_server.add_secret("staging", "engine-api-key", {k: v.encode() for k, v in secret.items()})
    status = ["status", "staging", "--kubeconfig", str(kubeconfig), "-o", "json"]

    def state() -> str:
        return str(json.loads(cli(repo, *status).stdout)["registries"][0]["state"])

    assert state() == "sync pending"  # GitOps: committed, not synced yet
    kube_server.add_object(yaml_doc(repo / STAGING))
    assert state() == "in sync" and cli(repo, *status).exit_code == 0
    doc = yaml_doc(repo / STAGING)
    payload = json.loads(doc["data"]["registry.json"])
    payload["serial"] -= 1
    kube_server.add_object({**doc, "data": {"registry.json": json.dumps(payload)}})
    assert state() == "sync pending"
    payload["serial"] += 1
    payload["keys"].append({**payload["keys"][0], "sha256": "0" * 64})
    kube_server.add_object({**doc, "data": {"registry.json": json.dumps(payload)}})
    assert state() == "drift" and cli(repo, *status).exit_code == 1


def test_verify_live(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any], tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from support.cli import in_dir as cwd

    from sealer.cli import cli as group

    kube_server.add_object(yaml_doc(repo / STAGING))
    key = unseal_values(repo, "staging", keys)["apiKey"]
    args = [
        "keys",
        "verify",
        "staging",
        "--live",
        "--kubeconfig",
        str(kubeconfig),
        "--state",
        str(tmp_path / "s"),
        "--init-state",
    ]
    with cwd(repo):
        result = CliRunner().invoke(group, args, input=key)
    assert result.exit_code == 0 and result.output.startswith("valid"), result.output


def test_a_registry_left_behind_by_a_switch_to_direct_delivery_is_reported(
    repo: Path, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig)
    result = cli(repo, "check", "staging", "-o", "json")
    found = [p for p in json.loads(result.stdout)["problems"] if p["rule"] == "key-registry"]
    assert [(p["message"], p["fix"]) for p in found] == [
        (
            f"key registry {STAGING} is not rendered any more: it will never follow the ledger",
            f"git rm {STAGING}",
        )
    ]


@pytest.mark.parametrize("name", ["zz.yml", "zz.json", "sub/zz.yaml"])
def test_any_other_file_in_the_registry_folder_is_reported(repo: Path, name: str) -> None:
    """A GitOps tool applies `.yml`, `.json` and (Flux, Argo CD's recurse) subfolders of
    `registry/<env>/` as well: a manifest there that no rotation updates keeps what it lists valid."""
    extra = repo / "registry" / "staging" / name
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_bytes((repo / STAGING).read_bytes())
    commit_all(repo, "a registry of my own")
    result = cli(repo, "check", "staging", "-o", "json")
    assert result.exit_code == 1, result.output
    found = [p for p in json.loads(result.stdout)["problems"] if p["rule"] == "key-registry"]
    shown = f"registry/staging/{name.split('/')[0]}"
    message = f"key registry {shown} is not rendered any more: it will never follow the ledger"
    fix = f"git rm {'-r ' if '/' in name else ''}{shown}"
    assert [(p["message"], p["fix"]) for p in found] == [(message, fix)]


@pytest.mark.parametrize("name", [".gitkeep", "README.md"])
def test_a_file_no_gitops_tool_applies_in_the_registry_folder_passes(repo: Path, name: str) -> None:
    """Argo CD and Flux apply a folder's manifests, jsonnet and kustomization only: a `.gitkeep`
    kept in `registry/<env>/` lists no key, and the pre-commit hook must not refuse commits over it."""
    (repo / "registry" / "staging" / name).write_text("")
    commit_all(repo, name)
    result = cli(repo, "check", "staging", "-o", "json")
    assert [p for p in json.loads(result.stdout)["problems"] if p["rule"] == "key-registry"] == []


# -- the registry's settings in sealer.yaml -------------------------------------------------------


def settings_config(**backends: dict[str, Any]) -> dict[str, Any]:
    """dev and prod in one namespace, with one Secret name, pinned to one cluster."""
    cluster = {"name": "c1", "cert": "certs/c1.pem", "fingerprint": "ab" * 32, "valuesFile": "deploy/v.yaml"}
    envs = {
        name: {
            "namespace": "payments",
            "secretName": f"{name}-key" if name not in backends else "engine-key",
            "valuesFile": f"deploy/{name}.yaml",
            "clusters": [{**cluster, "valuesFile": f"deploy/{name}-c1.yaml"}],
            **({"backend": {"kind": "k8s-secrets", "options": backends[name]}} if backends.get(name) else {}),
        }
        for name in ("dev", "prod")
    }
    return {"version": 1, "environments": envs}


@pytest.mark.parametrize(
    ("backends", "problem"),
    [
        ({"dev": {}, "prod": {}}, "ConfigMap payments/engine-key-registry is also the key registry of dev"),
        (
            {"dev": {"registry_name": "shared"}, "prod": {"registry_name": "shared"}},
            "also the key registry of dev",
        ),
        ({"dev": {"delivery": "carrier-pigeon"}}, "delivery: must be one of gitops, direct"),
        ({"dev": {"registry_kind": "Deployment"}}, "registry_kind: must be one of ConfigMap, Secret"),
        ({"dev": {"registry_kind": "Secret"}}, "registry_kind: a registry committed to Git is a ConfigMap"),
        ({"dev": {"registry_namespace": "Not_A_Namespace"}}, "registry_namespace: must be a DNS name"),
        ({"dev": {"delivery": "direct", "contexts": "a b"}}, "contexts: must be kubeconfig context names"),
    ],
)
def test_registry_settings_are_checked(backends: dict[str, Any], problem: str, tmp_path: Path) -> None:
    from sealer.errors import ConfigError

    with pytest.raises(ConfigError, match=problem) as err:
        config.parse(settings_config(**backends), tmp_path)
    assert str(err.value).startswith("invalid config: sealer.yaml: environments.")


def test_direct_delivery_options_name_their_environment(tmp_path: Path) -> None:
    cfg = config.parse(settings_config(dev={"delivery": "direct"}), tmp_path)
    assert cfg.env("dev").backend_options == {
        "delivery": "direct",
        "registry_namespace": "payments",
        "registry_name": "engine-key-registry",
        "registry_env": "dev",
    }
    assert cfg.env("prod").backend_options == {} and cfg.env("prod").registry == registry.Settings(
        "gitops", "ConfigMap", "payments", "prod-key-registry"
    )


def test_the_pull_request_says_when_a_revocation_takes_effect(repo: Path) -> None:
    result = cli(repo, "rotate", "staging", "-o", "json")
    assert result.exit_code == 0, result.output
    body = Path(json.loads(result.stdout)["pr_body_file"]).read_text()
    assert (
        "only when this pull request is merged and synced" in body
        and "verifiers in the clusters of staging" in body
    )


def rotate_on_branch(repo: Path, *args: str) -> tuple[str, list[KeyRecord]]:
    """A rotation on its own branch (the user stays on main): its branch and its commit's ledger."""
    done = finish(repo, "staging", *args)
    at_commit = ledger.parse("staging", git(repo, "show", f"{done['commit']}:ledger/staging.yaml"), "commit")
    body = Path(done["pr_body_file"]).read_text()
    assert "written directly to the clusters, lists the new keys as accepted beside the old ones" in body
    assert "registry/<env>/<cluster>.yaml" not in body  # nothing committed for a direct registry
    return str(done["branch"]), at_commit


def test_direct_delivery_publishes_the_rotation_commits_ledger_not_the_working_trees(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, keys: list[Any]
) -> None:
    """A rotation commits on its own branch and leaves the user on theirs: what it publishes is
    its commit's new keys, accepted beside the ledger it started from; the merged ledger comes
    with the deployed phase."""
    go_direct(repo, kubeconfig)
    before = ledger.load(repo, "staging")
    branch, at_commit = rotate_on_branch(repo)
    assert at_commit != ledger.load(repo, "staging")  # the working tree is still on main
    new = active(at_commit)
    accepted = live(kube_server)
    assert accepted is not None and fingerprints(accepted) == {**valid_in(before), new.fingerprint: None}
    assert registry.serial_of(before) < accepted.serial < registry.serial_of(at_commit)
    served = unseal_values(repo, "staging", keys)
    kube_server.add_secret("staging", "engine-api-key", {k: v.encode() for k, v in served.items()})
    report = json.loads(cli(repo, "status", "staging", "--kubeconfig", str(kubeconfig), "-o", "json").stdout)
    assert report["registries"][0]["state"] == "in sync"  # main's ledger, its open rotation accepted
    git(repo, "merge", "-q", "--ff-only", branch)
    finish(repo, "--finish")
    deployed = live(kube_server)
    assert deployed == registry.build("staging", registry.CURRENT_CONTEXT, at_commit)
    assert deployed.serial > accepted.serial


def test_direct_delivery_keeps_the_old_key_in_its_grace_window_after_the_merge(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig)
    old = active(ledger_records(repo, "staging"))
    branch, at_commit = rotate_on_branch(repo, "--grace", "24h")
    accepted = live(kube_server)
    assert accepted is not None and fingerprints(accepted)[old.fingerprint] is None  # no grace yet
    git(repo, "merge", "-q", "--ff-only", branch)
    finish(repo, "--finish")
    deployed = live(kube_server)
    graced = next(r for r in at_commit if r.key_id == old.key_id)
    assert deployed is not None and graced.revoke_at is not None and deployed.serial > accepted.serial
    assert fingerprints(deployed)[old.fingerprint] == registry.iso(graced.revoke_at)
    assert registry.check(deployed, old.fingerprint, utcnow()) == VALID
    assert registry.check(deployed, old.fingerprint, utcnow() + 25 * HOUR) == REVOKED


def test_an_abandoned_rotation_leaves_the_direct_registry_and_the_serial_still_grows(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig)
    before = ledger.load(repo, "staging")
    old = active(before)
    branch, at_commit = rotate_on_branch(repo)
    abandoned = active(at_commit)
    serials = [registry.serial_of(before), live(kube_server).serial]  # type: ignore[union-attr]
    done = finish(repo, "--abandon", branch)
    assert [a["key_id"] for a in done["abandoned"]] == [abandoned.key_id]
    after = live(kube_server)
    assert after is not None and fingerprints(after) == valid_in(before) and after.accepted == ()
    assert registry.check(after, abandoned.fingerprint, utcnow()) == UNKNOWN
    assert registry.check(after, old.fingerprint, utcnow()) == VALID
    serials.append(after.serial)
    assert finish(repo, "--abandon", branch)["abandoned"] == []  # again: nothing left to drop
    assert cli(repo, "rotate", "--abandon", branch).stdout == "nothing to abandon\n"  # not "to finish"
    git(repo, "branch", "-D", branch)
    rotate(repo)  # the next rotation still publishes: its serial is above the abandoned one's
    serials.append(live(kube_server).serial)  # type: ignore[union-attr]
    finish(repo, "--finish")
    final = live(kube_server)
    assert final is not None and old.fingerprint not in fingerprints(final)
    serials.append(final.serial)
    assert serials == sorted(set(serials)), serials


@pytest.mark.parametrize("merge", ["--no-ff", "--squash"])
def test_abandon_of_a_merged_rotation_from_another_branch_leaves_the_direct_registry(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, merge: str
) -> None:
    """As for an external store (test_rotate_backends): `--abandon BRANCH` run from a branch that
    does not hold the rotation (an old feature branch) must not drop keys main took in from the
    live registry: the deployment is about to serve them. Refused in one line, nothing changed."""
    go_direct(repo, kubeconfig)
    git(repo, "branch", "-q", "old-feature")
    branch, at_commit = rotate_on_branch(repo)
    git(repo, "merge", "-q", merge, branch, *(["-m", "merge"] if merge == "--no-ff" else []))
    if merge == "--squash":
        commit_all(repo, "the rotation, squashed")
    accepted = live(kube_server)
    assert accepted is not None and active(at_commit).key_id in accepted.accepted
    git(repo, "checkout", "-q", "old-feature")
    result = cli(repo, "rotate", "--abandon", branch)
    assert result.exit_code == 2 and result.stdout == "", (result.output, result.exception)
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("sealer: staging key "), line
    assert "is held by refs/heads/main too: that rotation was merged, not abandoned" in line, line
    assert live(kube_server) == accepted
    git(repo, "checkout", "-q", "main")
    finish(repo, "--finish")  # the merged rotation still deploys
    deployed = live(kube_server)
    assert deployed is not None and registry.check(deployed, active(at_commit).fingerprint, utcnow()) == VALID


def test_an_old_checkout_never_brings_a_revoked_key_back_in_any_phase(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    from sealer.backends import publish_registry

    go_direct(repo, kubeconfig)
    old = active(ledger.load(repo, "staging"))
    rotate(repo)
    finish(repo, "--finish")
    final = ledger.load(repo, "staging")
    deployed = live(kube_server)
    assert deployed is not None and old.fingerprint not in fingerprints(deployed)
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # a pipeline on the checkout before the rotation
    stale = cli(repo, "rotate", "--finish", "-o", "json")
    assert stale.exit_code == 4 and "not overwritten" in stale.output, stale.output
    assert live(kube_server) == deployed
    # a ledger only a little newer (one more active key: +2) is not outweighed by accepted keys (+1 each)
    settings = config.load(repo).env("staging").registry
    assert settings is not None
    extra = dataclasses.replace(record(ACTIVE, name="other"), env="staging")
    publish_registry(settings, "staging", registry.Publication((*final, extra)))
    ahead = live(kube_server)
    many = tuple(dataclasses.replace(record(ACTIVE, name=f"k{i}"), env="staging") for i in range(8))
    assert registry.compose("staging", "x", registry.Publication(tuple(final), many), None).serial > (
        ahead.serial  # type: ignore[union-attr]
    )
    with pytest.raises(BackendError, match="not overwritten"):
        publish_registry(settings, "staging", registry.Publication(tuple(final), many))
    assert live(kube_server) == ahead


def test_keys_compromised_drops_an_accepted_key_a_rotation_under_review_published(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """A key only a rotation's branch holds, yet valid to every verifier (direct delivery lists it
    as accepted) leaks: `keys compromised` on main takes it out of the live registry at once."""
    go_direct(repo, kubeconfig)
    before = ledger.load(repo, "staging")
    branch, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    accepted = live(kube_server)
    assert accepted is not None and registry.check(accepted, leaked.fingerprint, utcnow()) == VALID
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["key_id"] == leaked.key_id and data["record"]["status"] == REVOKED
    assert data["branches_carrying_key"] == [f"refs/heads/{branch}"]  # merging it would bring it back
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID
    assert fingerprints(after) == valid_in(before) and after.serial > accepted.serial
    assert ledger.load(repo, "staging") == before  # main's ledger never held it: nothing committed
    again = cli(repo, "keys", "compromised", "staging", leaked.key_id, "-o", "json")
    assert again.exit_code == 0, again.output  # a rerun finds it gone
    assert live(kube_server) == after and git(repo, "rev-parse", "--verify", branch)


def test_keys_compromised_whose_registry_read_back_fails_is_partly_done(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """README (keys compromised, exit 4): the live registry is written without the leaked key,
    then its read-back fails: the cluster may already refuse the key, so not exit 2 ("nothing
    changed") but 4, saying what may have landed; running it again finishes it."""
    go_direct(repo, kubeconfig)
    branch, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)

    def read_back_fails(request: Request) -> None:
        if request.method == "PUT":  # stored; the GET reading it back gets a 500
            kube_server.answer_next(kube_status(500, "etcdserver: request timed out"), SECRET[1], "GET")

    kube_server.before_request = read_back_fails
    try:
        result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    finally:
        kube_server.before_request = None
        kube_server.clear_faults()
    assert result.exit_code == 4, (result.output, result.exception)
    (line,) = result.stderr.splitlines()
    assert "may already have been written without it" in line, line
    assert f"run `sealer keys compromised staging {leaked.key_id}` again" in line, line
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID
    again = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    assert again.exit_code == 0, again.output
    assert live(kube_server) == after


def test_keys_compromised_whose_registry_write_ctrl_c_left_under_way_is_partly_done(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C pressed again while the registry's write is on its way (InterruptedInFlight): the
    cluster may refuse the key yet, so exit 4 saying so and how to finish, never 130 or 2."""
    from sealer import kube_objects
    from sealer.errors import InterruptedInFlight

    go_direct(repo, kubeconfig)
    _, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    bounded = kube_objects._bounded

    def left_under_way(api: Any, what: str, call: Any, writes: bool = False) -> Any:
        if not writes:
            return bounded(api, what, call, writes)
        call()  # it lands after sealer left
        raise InterruptedInFlight(f"interrupted with a write to kubernetes ({what}) still under way")

    monkeypatch.setattr(kube_objects, "_bounded", left_under_way)
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    monkeypatch.setattr(kube_objects, "_bounded", bounded)
    assert result.exit_code == 4, (result.output, result.exception)
    (line,) = result.stderr.splitlines()
    assert line.startswith("sealer: interrupted with a write to kubernetes (") and "still under way" in line
    assert "may already have been written without it" in line, line
    assert f"run `sealer keys compromised staging {leaked.key_id}` again" in line, line
    assert cli(repo, "keys", "compromised", "staging", leaked.key_id).exit_code == 0


def test_keys_compromised_whose_registry_reached_one_cluster_of_two_names_it(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """README (keys compromised, exit 4): the leaked key is dropped from the first cluster's
    registry, then the second refuses (403): partly done, naming the cluster done."""
    go_direct(repo, kubeconfig)
    _, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    go_direct(repo, kubeconfig, contexts="admin,viewer")  # viewer may not read Secrets
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    assert result.exit_code == 4, (result.output, result.exception)
    (line,) = result.stderr.splitlines()
    assert (
        "forbidden" in line
        and f"the key registry of staging on admin no longer lists {leaked.key_id}" in line
    )
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID


def test_a_registry_write_whose_connection_drops_is_never_sent_again(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README ("nor is a write sent to it twice"): the API server stores the write and the
    connection drops before its answer, then the server cannot be reached: the client must not
    send the write again (its fate would be lost behind the refused retries: "nothing changed").
    One PUT; the write may have landed, so `keys compromised` is partly done (exit 4), and the
    registry does not list the key."""
    import urllib3
    from urllib3.connection import HTTPConnection

    go_direct(repo, kubeconfig)
    _, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    gone: list[bool] = []
    connect = HTTPConnection._new_conn

    def refused(conn: Any) -> Any:
        if gone:
            raise urllib3.exceptions.NewConnectionError(conn, "Connection refused")
        return connect(conn)

    def stored_then_dropped(request: Request) -> Response:
        kube_server.handle(request)
        gone.append(True)  # the API server goes away with its answer
        return Response(200, drop=True)

    monkeypatch.setattr(HTTPConnection, "_new_conn", refused)
    kube_server.answer_next(stored_then_dropped, SECRET[1], "PUT")
    kube_server.clear_log()
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    assert kube_server.requests_to(SECRET[1], "PUT") == 1
    assert result.exit_code == 4, (result.output, result.exception)
    assert "it may have been written" in result.stderr, result.stderr
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID


def test_a_registry_write_answered_503_with_retry_after_is_never_sent_again(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """README ("nor is a write sent to it twice"): a gateway's 503 (with Retry-After) may come
    after the write was stored: urllib3 would wait and send it again; sealer sends it once and
    counts it not done (exit 4)."""
    go_direct(repo, kubeconfig)
    _, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    busy = kube_status(503, "try later")
    kube_server.answer_next(
        dataclasses.replace(busy, headers={**busy.headers, "Retry-After": "0"}), SECRET[1], "PUT"
    )
    kube_server.clear_log()
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    assert kube_server.requests_to(SECRET[1], "PUT") == 1
    assert result.exit_code == 4, (result.output, result.exception)
    assert "it may have been written" in result.stderr, result.stderr


def test_a_registry_write_answered_past_the_bound_is_not_done(
    repo: Path, kube_server: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server stored the write and answered with more than sealer reads: the answer came,
    so the write arrived; counted not done (exit 4), never read whole or called nothing changed."""
    from sealer import kube

    go_direct(repo, kubeconfig)
    _, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    monkeypatch.setattr(kube, "MAX_ANSWER_BYTES", 1 << 20)
    huge = Response.json(200, {"kind": "Secret", "padding": "x" * (1 << 20)})
    kube_server.answer_next(lambda request: (kube_server.handle(request), huge)[1], SECRET[1], "PUT")
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id)
    assert result.exit_code == 4, (result.output, result.exception)
    assert "more than 1 MiB: not read: it may have been written" in result.stderr, result.stderr
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID


def test_a_pushed_branch_with_a_broken_ledger_naming_the_key_does_not_stop_the_incident(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """Anyone who can push a branch can leave a ledger there that names the leaked key and that
    no parser reads: it is passed over, and the key still leaves the live registry at once."""
    go_direct(repo, kubeconfig)
    branch, at_commit = rotate_on_branch(repo)
    leaked = active(at_commit)
    git(repo, "checkout", "-q", "-b", "pushed", branch)
    ledger_file = repo / "ledger" / "staging.yaml"
    ledger_file.write_bytes(ledger_file.read_bytes() + b"# \xff\n")
    git(repo, "update-ref", "refs/remotes/origin/pushed", commit_all(repo, "pushed"))
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "pushed")
    result = cli(repo, "keys", "compromised", "staging", leaked.key_id, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["record"]["status"] == REVOKED
    after = live(kube_server)
    assert after is not None and registry.check(after, leaked.fingerprint, utcnow()) != VALID


def test_an_unreadable_live_registry_with_a_newer_serial_is_not_replaced_by_an_old_checkout(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """Ours, but unreadable (bad annotations: another sealer version's, or a hand edit): its serial
    still says it is newer, so an old checkout's ledger (the revoked key valid) is not written."""
    go_direct(repo, kubeconfig)
    rotate(repo)
    finish(repo, "--finish")
    with kube_server.lock:
        annotations = kube_server.secrets[SECRET]["metadata"]["annotations"]
        annotations[registry.ACCEPTED_ANNOTATION] = "kid_not_listed"
        before = json.dumps(kube_server.secrets[SECRET], sort_keys=True)
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # a pipeline on the checkout before the rotation
    stale = cli(repo, "rotate", "--finish", "-o", "json")
    assert stale.exit_code == 4 and "not overwritten" in stale.output, stale.output
    with kube_server.lock:
        assert json.dumps(kube_server.secrets[SECRET], sort_keys=True) == before  # nothing published


def test_finish_keeps_an_open_rotations_accepted_key_and_drops_it_once_no_branch_holds_it(
    repo: Path, kube_server: FakeKube, kubeconfig: Path
) -> None:
    go_direct(repo, kubeconfig)
    before = ledger.load(repo, "staging")
    branch, at_commit = rotate_on_branch(repo)
    accepted = live(kube_server)
    assert finish(repo, "--finish")["abandoned"] == []  # another pull request merged: still open
    assert live(kube_server) == accepted
    git(repo, "branch", "-D", branch)  # closed unmerged, its branch deleted
    done = finish(repo, "--finish")
    assert [a["key_id"] for a in done["abandoned"]] == [active(at_commit).key_id]
    after = live(kube_server)
    assert after is not None and fingerprints(after) == valid_in(before)
    assert after.serial > accepted.serial  # type: ignore[union-attr]
