"""`sealer render ENV`: the `sealer:` subtree of the Helm values files, per the values contract
(/work/notes/values_contract.md): deterministic, user content kept, unsealable with the env's key."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.cli import SEALER_SCRIPT
from support.env_repos import Controllers, invoke, load_yaml, rotate, run_main, snapshot, unseal_values
from support.git import commit_all, git

from sealer import apikey, config, ledger, render, yamlio
from sealer.errors import BadInput
from sealer.render import render_values

VALUES = "deploy/staging/values.yaml"
CONTRACT_KEYS = [
    "secretName",
    "namespace",
    "scope",
    "cluster",
    "certFingerprint",
    "encryptedData",
    "keys",
    "checksum",
]
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _sealer(root: Path, values: str = VALUES) -> dict[str, Any]:
    tree: dict[str, Any] = load_yaml(root / values)["sealer"]
    return tree


def _render(root: Path, env: str = "staging") -> Any:
    return invoke(root, "render", env)


def test_subtree_matches_the_contract(rotated: Path, controllers: Controllers) -> None:
    tree = _sealer(rotated)
    env = config.load(rotated).env("staging")
    (record,) = [r for r in ledger.load(rotated, "staging") if r.status == "active"]
    sealed = load_yaml(rotated / "sealed" / "staging" / "staging.yaml")

    assert list(tree) == CONTRACT_KEYS
    assert (tree["secretName"], tree["namespace"], tree["scope"], tree["cluster"]) == (
        env.secret_name,
        env.namespace,
        "strict",
        "staging",
    )
    assert tree["certFingerprint"] == controllers["staging"].fingerprint == env.clusters[0].fingerprint
    assert tree["encryptedData"] == sealed["spec"]["encryptedData"]
    ciphertext = tree["encryptedData"]["apiKey"]
    # uint16 BE 256 (RSA-2048) then RSA bytes: base64 "AQ" + one of A-D (not always "AQA")
    assert re.match(r"AQ[A-D]", ciphertext) and len(ciphertext) >= 368
    assert base64.b64encode(base64.b64decode(ciphertext, validate=True)).decode() == ciphertext
    meta = tree["keys"]["apiKey"]
    assert list(meta) == ["keyId", "fingerprintPrefix", "created", "expires"]
    assert meta["keyId"] == record.key_id and re.fullmatch(r"kid_[0-9a-f]{12}", meta["keyId"])
    assert meta["fingerprintPrefix"] == record.fingerprint[:12]
    created, expires = (
        dt.datetime.strptime(meta[k], STAMP).replace(tzinfo=dt.timezone.utc) for k in ("created", "expires")
    )
    assert (created, expires) == (
        record.created.replace(microsecond=0),
        record.expires.replace(microsecond=0),
    )
    assert expires - created == dt.timedelta(days=env.key_lifetime_days)
    assert re.fullmatch(r"[0-9a-f]{64}", tree["checksum"])
    text = (rotated / VALUES).read_text()
    assert f'created: "{meta["created"]}"' in text  # quoted: a string for Helm, never a timestamp


def test_values_unseal_to_a_key_in_the_ledger(rotated: Path, controllers: Controllers) -> None:
    plain = unseal_values(rotated / VALUES, controllers["staging"])["apiKey"].decode()

    match = re.fullmatch(apikey.KEY_PATTERN, plain)
    assert match and match.group(1) == "staging"
    active = [r for r in ledger.load(rotated, "staging") if r.status == "active"]
    assert [r.fingerprint for r in active] == [apikey.fingerprint(plain)]
    assert _sealer(rotated)["keys"]["apiKey"]["keyId"] == apikey.key_id_of(plain)
    for path, data in snapshot(rotated).items():  # the plaintext reached no file
        assert plain.encode() not in data, path
    # git's diff driver for sealed files runs `sealer`: this test puts the venv's on the PATH it
    # gives git (making `sealer init` resolve the command itself is the diff-driver issue's job).
    path = os.pathsep.join([str(Path(SEALER_SCRIPT).parent), os.environ.get("PATH", os.defpath)])
    history = subprocess.run(
        ["git", "-C", str(rotated), "log", "-p", "--all"],
        capture_output=True,
        check=True,
        env={**os.environ, "PATH": path},
    )
    assert plain.encode() not in history.stdout


@pytest.mark.parametrize("scope", ["namespace-wide", "cluster-wide"])
def test_scopes_render_and_unseal(pinned: Path, controllers: Controllers, scope: str) -> None:
    with config.edit(pinned) as doc:
        doc["environments"]["staging"]["scope"] = scope
        doc["environments"]["staging"]["keys"] = ["apiKey", "adminKey"]
    commit_all(pinned, scope)

    rotate(pinned)

    tree = _sealer(pinned)
    assert tree["scope"] == scope
    assert list(tree["encryptedData"]) == list(tree["keys"]) == ["apiKey", "adminKey"]
    opened = unseal_values(pinned / VALUES, controllers["staging"])
    assert opened["apiKey"] != opened["adminKey"]
    ledger_fps = {r.fingerprint for r in ledger.load(pinned, "staging")}
    assert {apikey.fingerprint(v.decode()) for v in opened.values()} <= ledger_fps


# -- determinism ---------------------------------------------------------------------------------


def test_re_render_is_byte_identical(rotated: Path) -> None:
    before = snapshot(rotated)

    result = _render(rotated)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "staging: values files already up to date"
    assert snapshot(rotated) == before
    assert git(rotated, "status", "--porcelain") == ""


def test_render_rebuilds_what_rotate_wrote(rotated: Path) -> None:
    path = rotated / VALUES
    rotated_text = path.read_text()
    path.write_text(rotated_text.split("sealer:\n")[0])  # the subtree is gone

    first = invoke(rotated, "render", "staging", "--output", "json")

    assert first.exit_code == 0
    assert json.loads(first.stdout) == {"env": "staging", "changed": [VALUES]}
    assert path.read_text() == rotated_text
    path.unlink()
    assert _render(rotated).exit_code == 0
    assert path.read_text() == "sealer:\n" + rotated_text.split("sealer:\n", 1)[1]


def _user_lines(text: str) -> list[str]:
    """The lines outside the `sealer:` block (its key line and the indented lines below it)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("sealer:"):
            inside = True
            continue
        if inside and line.startswith(" "):
            continue
        inside = False
        lines.append(line)
    return lines


USER_HEAD = """\
# Staging values: reviewed by #team-engine.
---
image:
  repository: registry.example/engine  # pinned mirror
  tag: "1.4.2"
"""
USER_TAIL = """\
# Pods per zone; keep in sync with the HPA.
replicaCount: 3   # odd on purpose

extraEnv:
  - name: LOG_LEVEL
    value: debug   # TODO: info after launch
# end of file comment
"""


def test_user_content_survives_rotations(rotated: Path) -> None:
    path = rotated / VALUES
    subtree = path.read_text().split("sealer:\n", 1)[1]
    body = "\n".join(line for line in subtree.splitlines() if line.startswith("  ")) + "\n"
    path.write_text(USER_HEAD + "sealer:\n" + body + USER_TAIL)
    edited = path.read_text()
    old_key_id = _sealer(rotated)["keys"]["apiKey"]["keyId"]
    commit_all(rotated, "user edits")

    rotate(rotated)

    text = path.read_text()
    assert _user_lines(text) == _user_lines(edited)
    assert text.startswith(USER_HEAD + "sealer:\n") and text.endswith(USER_TAIL)
    tree = _sealer(rotated)
    assert tree["keys"]["apiKey"]["keyId"] != old_key_id
    assert tree["keys"]["apiKey"]["keyId"] == ledger.load(rotated, "staging")[-1].key_id
    values = load_yaml(path)
    assert (values["image"]["tag"], values["replicaCount"], values["extraEnv"][0]["value"]) == (
        "1.4.2",
        3,
        "debug",
    )
    before = snapshot(rotated)
    assert _render(rotated).exit_code == 0
    assert snapshot(rotated) == before


def test_checksum_changes_with_the_key_only(rotated: Path) -> None:
    first = _sealer(rotated)["checksum"]
    assert _render(rotated).exit_code == 0 and _sealer(rotated)["checksum"] == first

    rotate(rotated)

    assert _sealer(rotated)["checksum"] != first


SUB = "checksum: x\n"
RENDERED = "sealer:\n  checksum: x\n"


@pytest.mark.parametrize(
    "before, after",
    [
        ("a: 1\nsealer:\n  old: true\n# about b\nb: 2\n", f"a: 1\n{RENDERED}# about b\nb: 2\n"),
        ("a: 1\nsealer:\n  old: true  # mine\n\n# about b\nb: 2\n", f"a: 1\n{RENDERED}\n# about b\nb: 2\n"),
        ("a: 1\nsealer:\n  deep:\n    list:\n    - 1\n# end\n", f"a: 1\n{RENDERED}# end\n"),
        ("a: 1\nsealer: 3  # x\n# end\n", f"a: 1\n{RENDERED}# end\n"),
        ("a: 1  # one\n# end\n", f"a: 1  # one\n# end\n{RENDERED}"),
        ("# only comments\n# so far\n", f"# only comments\n# so far\n{RENDERED}"),
        ("# head\n---\n# body\n", f"# head\n---\n# body\n{RENDERED}"),
        ("", RENDERED),
        ("null\n", RENDERED),
        ("a:\n    b: 1\n", "a:\n    b: 1\nsealer:\n    checksum: x\n"),
        # A comment after the `...` end marker: kept, the key added above the marker.
        ("a: 1\n...\n# after the end\n", f"a: 1\n{RENDERED}...\n# after the end\n"),
        ("a: 1\nsealer: 3\n... # mine\n", f"a: 1\n{RENDERED}... # mine\n"),
        # A NaN (no NaN equals another) on the slow path: kept, where every rendering was refused.
        ("n: [.nan]\nsealer: {old: 1}\n", f"n: [.nan]\n{RENDERED}"),
    ],
    ids=[
        "middle",
        "blank-line",
        "nested-last",
        "scalar",
        "appended",
        "comments-only",
        "doc-start",
        "empty",
        "null",
        "indent-4",
        "doc-end-comment",
        "doc-end-marker-comment",
        "nan",
    ],
)
def test_render_values_keeps_what_the_user_wrote(before: str, after: str) -> None:
    out = render_values(before, SUB, "values.yaml")

    assert out == after
    assert render_values(out, SUB, "values.yaml") == out


@pytest.mark.parametrize(
    "before, after",
    [
        # ruamel ends a `|+` value last in the document with a `...` of its own: two came back.
        ("sealer: {old: 1}\nnote: |+\n  keep\n\n...\n", f"{RENDERED}note: |+\n  keep\n\n...\n"),
        (
            "sealer: {old: 1}\nnote: |+\n  keep\n\n...\n# mine\n",
            f"{RENDERED}note: |+\n  keep\n\n...\n# mine\n",
        ),
        # ruamel writes `\n`: a CRLF file came back CRLF only where the lines were kept aside.
        (
            "a: 1  # one\r\nb: 2\r\n...\r\n# end\r\n",
            "a: 1  # one\r\nb: 2\r\nsealer:\r\n  checksum: x\r\n...\r\n# end\r\n",
        ),
    ],
    ids=["keep-chomping-at-the-end", "keep-chomping-comment", "crlf"],
)
def test_an_edit_keeps_the_document_ends_and_line_ends(before: str, after: str) -> None:
    out = render_values(before, SUB, "values.yaml")

    assert out == after
    was, now = yamlio.load_documents(before, "before"), yamlio.load_documents(out, "after")
    assert now == [{**was[0], "sealer": {"checksum": "x"}}]
    assert render_values(out, SUB, "values.yaml") == out


# Files whose odd text (line separators, a `|+` value at the end) ruamel writes back otherwise
# than sealer's reader and Helm read it, or so that the next edit cannot read or keep it.
UNKEPT = {
    # `note` read 'keep\n\n\u2028\n' before, 'keep\n\n\u2028 \n' after (`|+` written as `|`)
    "chomping": "sealer: {}\nnote: |+\n  keep\n\n\u2028  \n",
    # `a` read 1 before, '1\n\ufeff# c' after
    "nel-bom": "a: 1\r\n\x85\ufeff# c\r\n",
    # the edited text is one ruamel, the next edit, refuses as not YAML
    "unreadable": "note: |+\r\n  keep\r\n\u2028...\r\n",
    # the edited text is one the next edit would write back otherwise
    "not-again": "note: |+\r\n  keep\r\n\r\n\u2028# c\r\n",
}


# The value each refusal names as the first to read otherwise (none: the edit is no YAML at all).
FIRST_CHANGED = {"chomping": "note", "nel-bom": "a", "not-again": "note"}


@pytest.mark.parametrize("before", UNKEPT.values(), ids=UNKEPT.keys())
def test_an_edit_that_would_change_another_value_is_refused(
    before: str, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(BadInput) as refused:
        render_values(before, SUB, "values.yaml")

    assert str(refused.value).startswith("values.yaml: sealer's editor cannot rewrite this file")
    assert "simplify its odd text" in str(refused.value) and "\n" not in str(refused.value)
    named = FIRST_CHANGED.get(request.node.callspec.id)
    assert ("(the first to read otherwise: " in str(refused.value)) == (named is not None)
    assert named is None or f"(the first to read otherwise: '{named}')" in str(refused.value)


@pytest.mark.parametrize(
    "stamp",
    [
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "2001-12-14T21:59:43.123456789Z",
        '!!timestamp "2001-12-14t21:59:43.10-05:00"',
    ],
)
def test_the_slow_path_keeps_a_timestamps_text_as_written(stamp: str) -> None:
    # Helm keeps a timestamp's text: ruamel's own spelling (`...43.100000-05:00`) was another string
    # to the chart, though the same time to sealer's reader; a fraction it rounded was refused
    kept = f"x:\n  list: [{stamp}]\n  at: {stamp}\n"

    assert render_values(f"{kept}sealer: {{}}\n", SUB, "values.yaml") == f"{kept}{RENDERED}"


@pytest.mark.parametrize(("above", "fits"), [("c", True), ("abcdefghijkl", False)], ids=["fits", "past-64"])
def test_an_edit_refusal_names_a_key_like_a_credential_whole_or_not_at_all(above: str, fits: bool) -> None:
    """The first value to read otherwise is named by its keys, within 64 characters cut between
    them, never through one: a credential pasted as a key is shown whole, for redaction to hide,
    or not at all, where the cut showed all of a sealer key's random part past the redaction."""
    key = apikey.generate("production")
    before = f"sealer: {{}}\n{above}:\n  {key}: |+\n    keep\n\n\u2028    \n"  # as "chomping"
    with pytest.raises(BadInput) as refused:
        render_values(before, SUB, "values.yaml")

    named = f"{above}.{key}" if fits else f"{above}.…"
    assert f"(the first to read otherwise: '{named}')" in str(refused.value)
    assert key[-38:-30] not in apikey.redact(str(refused.value))


@pytest.mark.parametrize("command", [["render", "staging"], ["rotate", "staging", "--no-branch"]])
def test_a_values_file_the_edit_would_change_is_refused_and_nothing_written(
    rotated: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    (rotated / VALUES).write_text(UNKEPT["chomping"])
    commit_all(rotated, "a values file ruamel would write back otherwise")
    before, head = snapshot(rotated), git(rotated, "rev-parse", "HEAD")

    code, out, err = run_main(rotated, capsys, *command)

    assert (code, out) == (2, "")
    assert err.startswith("sealer: ") and err.count("\n") == 1, err
    assert f"{VALUES}: sealer's editor cannot rewrite" in err and "simplify its odd text" in err
    assert snapshot(rotated) == before and git(rotated, "rev-parse", "HEAD") == head


def test_entries_no_longer_sealed_render_as_empty_mappings(rotated: Path) -> None:
    with config.edit(rotated) as doc:
        doc["environments"]["staging"]["keys"] = ["otherKey"]

    assert _render(rotated).exit_code == 0

    tree = _sealer(rotated)
    assert (tree["encryptedData"], tree["keys"]) == ({}, {})


# -- bad input: one line, exit 2, nothing overwritten -----------------------------------------------


def _break(root: Path, how: str, other_cert: bytes) -> None:
    values = root / VALUES
    if how == "values-not-yaml":
        values.write_text(values.read_text() + "extra: [unclosed\n")
    elif how == "values-list":
        values.write_text("- replicaCount: 1\n")
    elif how == "values-scalar":
        values.write_text("just a string\n")
    elif how == "values-two-docs":
        values.write_text("a: 1\n---\nb: 2\n")
    elif how == "config-not-yaml":
        (root / "sealer.yaml").write_text((root / "sealer.yaml").read_text() + "  oops: [\n")
    elif how == "config-invalid":
        text = (root / "sealer.yaml").read_text()
        (root / "sealer.yaml").write_text(text.replace("secretName: engine-api-key", "secretName: Not/Ok"))
    elif how == "cert-deleted":
        (root / "certs" / "staging.pem").unlink()
    elif how == "cert-replaced":
        (root / "certs" / "staging.pem").write_bytes(other_cert)
    elif how == "ledger-broken":
        (root / "ledger" / "staging.yaml").write_text("keys: 3\n")
    elif how == "sealed-broken":
        (root / "sealed" / "staging" / "staging.yaml").write_text("")
    elif how == "registry-folder-a-file":  # read only once the values files were written, before
        shutil.rmtree(root / "registry" / "staging")
        (root / "registry" / "staging").write_text("not a folder\n")
    elif how == "registry-a-symlink":
        registry_file = root / "registry" / "staging" / "staging.yaml"
        registry_file.unlink()
        registry_file.symlink_to(root / "sealer.yaml")
    elif how == "sealed-two-docs":  # Argo CD applies the second too: a plain Secret, say
        with (root / "sealed" / "staging" / "staging.yaml").open("a") as handle:
            handle.write(
                "---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {apiKey: weak}\n"
            )


BAD = [
    ("unknown-env", "nope", "unknown environment 'nope' (known: dev, staging, production)"),
    ("no-pin", "dev", "dev pins no certificate: run `sealer cert add dev --file tls.crt`"),
    ("values-not-yaml", "staging", f"{VALUES}: not valid YAML at line"),
    ("values-list", "staging", f"{VALUES}: a values file must be a YAML mapping"),
    ("values-scalar", "staging", f"{VALUES}: a values file must be a YAML mapping"),
    ("values-two-docs", "staging", f"{VALUES}: holds several YAML documents; expected one"),
    ("config-not-yaml", "staging", "sealer.yaml: not valid YAML at line"),
    (
        "config-invalid",
        "staging",
        "invalid config: sealer.yaml: environments.dev.secretName: must be a DNS subdomain, got 'Not/Ok'",
    ),
    ("cert-deleted", "staging", "cannot read certificate"),
    (
        "cert-replaced",
        "staging",
        "certs/staging.pem does not match the fingerprint pinned for staging/staging",
    ),
    ("ledger-broken", "staging", "ledger/staging.yaml: expected a mapping with a `keys` list"),
    ("sealed-broken", "staging", "sealed/staging/staging.yaml: empty or not a SealedSecret"),
    ("registry-folder-a-file", "staging", "registry/staging/staging.yaml: Not a directory"),
    ("registry-a-symlink", "staging", "registry/staging/staging.yaml: it is a symlink"),
    (
        "sealed-two-docs",
        "staging",
        "sealed/staging/staging.yaml: holds several YAML documents; expected one",
    ),
]


@pytest.mark.parametrize("how, env, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_writes_nothing(
    rotated: Path,
    controllers: Controllers,
    capsys: pytest.CaptureFixture[str],
    how: str,
    env: str,
    message: str,
) -> None:
    (rotated / VALUES).write_text((rotated / VALUES).read_text().split("sealer:\n")[0])  # render would write
    _break(rotated, how, controllers["dev"].cert.read_bytes())
    before = snapshot(rotated)

    code, out, err = run_main(rotated, capsys, "render", env)

    assert code == 2, out
    assert err.startswith("sealer: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and out == ""
    assert snapshot(rotated) == before


def test_not_yet_rotated(pinned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(pinned)

    code, _, err = run_main(pinned, capsys, "render", "staging")

    assert code == 2
    assert err == (
        "sealer: no sealed keys for staging/staging on this branch yet: run `sealer rotate staging`"
        " (a rotation commits on its own branch: merge that first)\n"
    )
    assert snapshot(pinned) == before


def test_one_bad_cluster_file_stops_every_write(
    repo: Path, controllers: Controllers, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(repo, "cert", "add", "staging", "--file", str(controllers["eu"].cert), "--cluster", "eu")
    invoke(repo, "cert", "add", "staging", "--file", str(controllers["us"].cert), "--cluster", "us")
    commit_all(repo, "two clusters")
    rotate(repo)
    eu, us = repo / VALUES, repo / "deploy/staging/values-us.yaml"
    eu.write_text("replicaCount: 2\n")  # render would put the subtree back
    us.write_text(us.read_text() + "broken: {\n")
    before = snapshot(repo)

    code, _, err = run_main(repo, capsys, "render", "staging")

    assert code == 2 and "deploy/staging/values-us.yaml: not valid YAML" in err
    assert snapshot(repo) == before


def test_rotation_refuses_a_deleted_cert(rotated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rotated / "certs" / "staging.pem").unlink()
    before = snapshot(rotated)

    code, _, err = run_main(rotated, capsys, "rotate", "staging", "--no-branch")

    assert code == 2
    assert err.count("\n") == 1 and "cannot read certificate" in err and "certs/staging.pem" in err
    assert snapshot(rotated) == before


SPLICE_SUB = 'checksum: x\nkeys:\n  apiKey:\n    keyId: kid_1\n    created: "2026-01-01T00:00:00Z"\n'


@pytest.mark.parametrize(
    "before",
    [
        'a: 1\nsealer:\n  x: "abc\nfoo: y"\n',  # a quoted scalar running past the indented lines
        "a: 1\nsealer:\n  x: {p: 1,\nfoo: 2}\n",  # a flow mapping running past them
        "sealer:\n  x: &k 1\nb: *k\n",  # an anchor the rest of the file uses
        "sealer:\n  x: one\n    two\nb: 2\n",  # a multi-line plain scalar
        "sealer:\n  - 1\nb: 2\n",  # a list
        'a: "x\nsealer:\n  y"\n',  # `sealer:` inside a quoted scalar
        "a: 1\nsealer:\n  x: 1\n  y:\n    z: 2  # mine\n# c\nb: 2\n",  # what sealer itself writes
        "a: 1\nsealer:\n    x: 1\n\n  # indented comment\nb:\n    c: 2\n",
        "a: 1\n",
        "a: [1,\n  2]\n",
    ],
)
def test_a_spliced_file_means_the_old_one_with_the_new_subtree(before: str) -> None:
    """The fast splice must never change anything but the `sealer` value, however the old file
    is written: where it cannot tell cheaply, the slow paths decide."""
    out = render_values(before, SPLICE_SUB, "values.yaml")

    [old], [new], [sub] = (yamlio.load_documents(t, "t") for t in (before, out, SPLICE_SUB))
    assert new == {**old, "sealer": sub}


@pytest.mark.parametrize("before", ["sealer:\n  x: 1\n   \t\nb: 2\n", "a: 1\nsealer:\n  x: y\n   \t\n"])
def test_a_blank_line_with_a_tab_after_the_subtree_takes_the_slow_path(before: str) -> None:
    """libyaml reads such a line after the probe's plain `1` but not after a subtree ending in a
    quoted scalar: the fast splice wrote a file no YAML reader loads. ruamel refuses the file."""
    sub = f'{SPLICE_SUB}checksum2: "1234"\n'
    assert yamlio.load_documents(before, "t")
    assert render.splice_values(before, sub) is None
    with pytest.raises(BadInput, match="^values.yaml: not valid YAML at line"):
        render_values(before, sub, "values.yaml")


@pytest.mark.parametrize("before", ["sealer:\n  x: 1\n  x: 2\nb: 2\n", 'sealer:\n  x: 1\n  "x": 2\nb: 2\n'])
def test_a_sealer_value_with_a_key_twice_is_refused_not_spliced(before: str) -> None:
    with pytest.raises(BadInput):
        render_values(before, SPLICE_SUB, "values.yaml")


@pytest.mark.parametrize(
    "block, simple",
    [
        ("", True),
        ("  x: 1\n  w:\n    z: 2  # mine\n\n  # c\n", True),
        ('  "a: b": "c # d"\n  e: f\n', True),
        ('  " a ": 1\n  "a": 2\n  "a:":\n    "b ": x\n', True),  # spaces and colons in quoted keys
        ('  " a ": 1\n  " a ": 2\n', False),
        ("  x: 1\n  x: 2\n", False),  # a key twice
        ('  x: 1\n  "x": 2\n', False),  # the same key, spelled twice
        ("  x:\n    w: 1\n    w: 2\n", False),
        ("  x: 1\n    w: 2\n", False),  # deeper under a key that has a value
        ("  x:\n    w: 2\n   z: 3\n", False),  # back to a column no mapping is at
        ("  1: a\n", False),  # keys that are no strings
        ("  true: a\n", False),
        ("  y: a\n", False),  # a boolean to go-yaml
        (f"  {'k' * 1001}: 1\n", False),
        ("  x: &a 1\n", False),
        ("  x: *a\n", False),
        ("  x: !!str 1\n", False),
        ("  x: {a: 1}\n", False),
        ("  x: [1]\n", False),
        ("  x: |\n    text\n", False),
        ('  x: "a\n  b"\n', False),
        ("  x: a b\n", False),
        ("  - 1\n", False),
        ("  x: 1\r\n", False),
        ("  x: 1  # c\x85  x: 2\n", False),  # YAML 1.1 ends a comment at NEL, LS and PS
        ("  x: 1  # c\u2028b: 2\n", False),
        ("  x: 1  # c\u2029  w: *a\n", False),
        ("  x: 1  # c\x0b\n", False),
    ],
)
def test_only_simple_blocks_take_the_fast_splice(block: str, simple: bool) -> None:
    assert render._simple_block(block) is simple


def test_blocks_with_the_same_keys_are_told_apart() -> None:
    """The nesting check is cached by key lines: a value or a line more must still count."""
    assert render._simple_block("  x:\n    w: 1\n")
    assert render._simple_block("  x:\n    w: 2\n")
    assert not render._simple_block("  x: v\n    w: 1\n")
    assert not render._simple_block("  x:\n    w: 1\n  x: 2\n")
    assert not render._simple_block("  x:\n    w: 1\n    w: 2\n")


@pytest.mark.parametrize(
    "subtree, indent, body",
    [
        ("a: 1\nb:\n  c: 2\n", 2, "  a: 1\n  b:\n    c: 2\n"),
        ("a: 1\nb:\n  c: 2\n", 4, "    a: 1\n    b:\n        c: 2\n"),
        ("a: 1\nb:\n  c: 2", 2, "  a: 1\n  b:\n    c: 2"),
        ("", 2, ""),
        ("a: 1\n b: 2\n", 2, None),  # an odd indentation
        ("a: 1\n   b: 2\n", 2, None),
        ("a: 1\n\nb: 2\n", 2, None),  # a blank line
        ("a: 1\n  \t\x1f\n", 2, None),
        ("a: 1\n   \n", 2, None),
        ("a: 1\x0bb: 2\n", 2, "  a: 1\x0b  b: 2\n"),  # other line breaks: line by line
        ("a: é\u2028 b: 2\n", 2, None),
    ],
)
def test_the_subtree_is_indented_under_its_key(subtree: str, indent: int, body: str | None) -> None:
    assert render._indented(subtree, indent) == body
