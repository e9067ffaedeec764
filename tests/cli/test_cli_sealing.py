"""`sealer seal`, `unseal` and `validate` from the command line, against the independent
reference implementation in tests/reference.py and the checked-in vectors."""

from __future__ import annotations

import base64
import difflib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import reference as ref
import yaml
from support.cli import Run, assert_one_line_error, invoke, run_main

DATA = Path(__file__).parents[1] / "data"
SCOPES = ["strict", "namespace-wide", "cluster-wide"]


def seal_app_in_prod(keypair: Path) -> list[str]:
    """`sealer seal` with the keypair's certificate, for Secret app in namespace prod."""
    return ["seal", "--cert", str(keypair / "tls.crt"), "--name", "app", "-n", "prod"]


def secret_yaml(name: str = "app", namespace: str | None = "prod", **data: bytes) -> str:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    return yaml.safe_dump(doc)


def write(path: Path, content: str | dict[str, Any]) -> Path:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def opened_data(run: Run) -> dict[str, bytes]:
    assert run.code == 0, run.stderr
    doc = yaml.safe_load(run.stdout)
    return {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}


# --- interoperability with the reference implementation ---------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
def test_reference_sealed_values_unseal_with_the_cli(
    any_keypair_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], scope: str
) -> None:
    values = {"a": b"1", "empty": b"", "bin": bytes(range(256))}
    public = ref.load_public_key(any_keypair_dir / "tls.crt")
    sealed = write(tmp_path / "s.yaml", ref.sealed_secret(public, scope, "prod", "app", values))
    args = ["unseal", "--key", str(any_keypair_dir / "tls.key"), "-f", str(sealed)]
    assert opened_data(invoke(args)) == values
    assert opened_data(run_main(args, capsys)) == values


@pytest.mark.parametrize("scope", SCOPES)
def test_cli_sealed_values_open_with_the_reference(
    any_keypair_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], scope: str
) -> None:
    values = {"a": b"1", "empty": b"", "bin": bytes(range(256))}
    source = write(tmp_path / "in.yaml", secret_yaml(**values))
    args = ["seal", "--cert", str(any_keypair_dir / "tls.crt"), "-f", str(source), "--scope", scope]
    key = ref.load_key(any_keypair_dir / "tls.key")
    label = ref.scope_label(scope, "prod", "app")
    for run in (invoke(args), run_main(args, capsys)):
        assert run.code == 0, run.stderr
        doc = yaml.safe_load(run.stdout)
        assert {k: ref.decrypt(key, label, v) for k, v in doc["spec"]["encryptedData"].items()} == values


@pytest.mark.parametrize(("scope", "namespace", "name", "opens"), ref.MOVED_VALUES)
def test_moved_values_open_only_where_the_scope_allows(
    keypair_2048_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scope: str,
    namespace: str,
    name: str,
    opens: bool,
) -> None:
    source = write(tmp_path / "in.yaml", secret_yaml(a=b"moved"))
    run = invoke(["seal", "--cert", str(keypair_2048_dir / "tls.crt"), "-f", str(source), "--scope", scope])
    doc = yaml.safe_load(run.stdout)
    doc["metadata"].update(name=name, namespace=namespace)
    value = doc["spec"]["encryptedData"]["a"]
    key = ref.load_key(keypair_2048_dir / "tls.key")
    moved_label = ref.scope_label(scope, namespace, name)
    unseal = [
        "unseal",
        "--key",
        str(keypair_2048_dir / "tls.key"),
        "-f",
        str(write(tmp_path / "m.yaml", doc)),
    ]
    if opens:
        assert ref.decrypt(key, moved_label, value) == b"moved"
        assert opened_data(run_main(unseal, capsys)) == {"a": b"moved"}
    else:
        with pytest.raises(ValueError):
            ref.decrypt(key, moved_label, value)
        assert_one_line_error(run_main(unseal, capsys), 2, "entry a: no key opens this value")


def test_checked_in_vectors_unseal_with_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = yaml.safe_load((DATA / "vectors.yaml").read_text())["cases"]
    for index, case in enumerate(cases):
        sealed = write(tmp_path / f"v{index}.yaml", case["sealed"])
        run = run_main(["unseal", "--key", str(DATA / "vector_key.pem"), "-f", str(sealed)], capsys)
        assert opened_data(run) == {k: base64.b64decode(v) for k, v in case["plaintext"].items()}
        assert yaml.safe_load(run.stdout)["metadata"]["name"] == case["name"]


def test_vectors_all_in_one_stream_and_validate_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = yaml.safe_load((DATA / "vectors.yaml").read_text())["cases"]
    stream = tmp_path / "all.yaml"
    stream.write_text(yaml.safe_dump_all([c["sealed"] for c in cases]))
    run = run_main(["unseal", "--key", str(DATA / "vector_key.pem"), "-f", str(stream)], capsys)
    assert run.code == 0 and len(list(yaml.safe_load_all(run.stdout))) == len(cases)
    cert = ref.write_cert(tmp_path / "vector.crt", ref.certificate(ref.load_key(DATA / "vector_key.pem")))
    run = run_main(
        ["validate", "-f", str(stream), "--cert", str(cert), "--key", str(DATA / "vector_key.pem")], capsys
    )
    entries = sum(len(c["plaintext"]) for c in cases)
    assert (run.code, run.stdout.strip()) == (0, f"ok: {len(cases)} SealedSecret(s), {entries} entries")


# --- seal options -----------------------------------------------------------------------------


def test_seal_from_literals_and_files_to_a_file(keypair_2048_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"\x00\xff")
    out = tmp_path / "out.yaml"
    entries = ["--from-literal", "user=admin", "--from-file", f"bin={tmp_path / 'blob'}"]
    run = invoke([*seal_app_in_prod(keypair_2048_dir), *entries, "-w", str(out)])
    assert (run.code, run.stdout) == (0, "")
    unsealed = invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(out)])
    assert opened_data(unsealed) == {"user": b"admin", "bin": b"\x00\xff"}


def test_seal_never_replaces_a_fifo_or_device_named_by_w(keypair_2048_dir: Path, tmp_path: Path) -> None:
    # `-w /dev/stdout` or `-w /dev/full` as root replaced the device node with a file
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    run = invoke([*seal_app_in_prod(keypair_2048_dir), "--from-literal", "k=v", "-w", str(fifo)])
    assert_one_line_error(run, 2, "not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_seal_reads_stdin_and_several_documents(keypair_2048_dir: Path) -> None:
    stream = secret_yaml("one", a=b"1") + "---\n" + secret_yaml("two", b=b"2")
    run = invoke(["seal", "--cert", str(keypair_2048_dir / "tls.crt")], stdin=stream)
    assert run.code == 0, run.stderr
    docs = list(yaml.safe_load_all(run.stdout))
    assert [d["metadata"]["name"] for d in docs] == ["one", "two"]
    unsealed = invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key")], stdin=run.stdout)
    assert [d["data"] for d in yaml.safe_load_all(unsealed.stdout)] == [{"a": "MQ=="}, {"b": "Mg=="}]


def test_seal_json_format(keypair_2048_dir: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "in.yaml", secret_yaml(a=b"1"))
    run = invoke(["seal", "--cert", str(keypair_2048_dir / "tls.crt"), "-f", str(source), "--format", "json"])
    doc = json.loads(run.stdout)
    assert doc["kind"] == "SealedSecret" and list(doc["spec"]["encryptedData"]) == ["a"]
    unsealed = invoke(
        ["unseal", "--key", str(keypair_2048_dir / "tls.key"), "--format", "json"], stdin=run.stdout
    )
    assert json.loads(unsealed.stdout)["data"] == {"a": "MQ=="}


def test_seal_raw_prints_one_value_for_helm(keypair_2048_dir: Path) -> None:
    run = invoke(
        [
            "seal",
            "--cert",
            str(keypair_2048_dir / "tls.crt"),
            "--raw",
            "--name",
            "app",
            "-n",
            "prod",
            "--from-literal",
            "k=v",
            "--scope",
            "namespace-wide",
        ]
    )
    assert run.code == 0
    assert ref.decrypt(ref.load_key(keypair_2048_dir / "tls.key"), b"prod", run.stdout.strip()) == b"v"


def test_seal_takes_the_scope_from_the_secrets_annotations(keypair_2048_dir: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(secret_yaml(a=b"1"))
    doc["metadata"]["annotations"] = {"sealedsecrets.bitnami.com/cluster-wide": "true"}
    run = invoke(
        ["seal", "--cert", str(keypair_2048_dir / "tls.crt"), "-f", str(write(tmp_path / "s.yaml", doc))]
    )
    sealed = yaml.safe_load(run.stdout)
    assert sealed["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"] == "true"
    assert (
        ref.decrypt(ref.load_key(keypair_2048_dir / "tls.key"), b"", sealed["spec"]["encryptedData"]["a"])
        == b"1"
    )


# --- merge ------------------------------------------------------------------------------------

COMMENTED = """\
# Sealed API keys for the app. Edit with `sealer seal --merge-into`.
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: app  # must match the Deployment's envFrom
  namespace: prod
  finalizers:
  - example.com/keep  # a block sequence at column 2, kept as it is
spec:
  encryptedData:
    # rotated 2024-05
    a: {a}
    b: "{b}"  # quoted on purpose
  template:
    metadata:
      name: app
      namespace: prod
    type: Opaque
"""


def _commented_file(keypair: Path, tmp_path: Path) -> Path:
    public = ref.load_public_key(keypair / "tls.crt")
    values = {k: ref.encrypt(public, b"prod/app", v) for k, v in {"a": b"1", "b": b"2"}.items()}
    return write(tmp_path / "sealed.yaml", COMMENTED.format(**values))


def test_merge_keeps_other_ciphertext_and_comments_byte_identical(
    keypair_2048_dir: Path, tmp_path: Path
) -> None:
    target = _commented_file(keypair_2048_dir, tmp_path)
    target.chmod(0o640)
    before = target.read_text()
    run = invoke([*seal_app_in_prod(keypair_2048_dir), "--from-literal", "c=3", "--merge-into", str(target)])
    assert (run.code, run.stdout) == (0, ""), run.stderr
    after = target.read_text()
    diff = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert [line for line in diff if line.startswith("-")] == []  # every original line is still there
    added = [line[2:].strip() for line in diff]
    assert added[0] == "annotations:" and added[1].startswith("sealer.dev/cert-sha256: "), diff
    assert added[2].startswith("sealer.dev/cert-sha256-entries: ")
    assert added[3].startswith("c: ") and len(added) == 4
    assert target.stat().st_mode & 0o777 == 0o640
    unsealed = invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(target)])
    assert opened_data(unsealed) == {"a": b"1", "b": b"2", "c": b"3"}


def test_merge_replacing_an_entry_changes_only_its_line(keypair_2048_dir: Path, tmp_path: Path) -> None:
    target = _commented_file(keypair_2048_dir, tmp_path)
    before = target.read_text().splitlines()
    run = invoke(
        [*seal_app_in_prod(keypair_2048_dir), "--from-literal", "a=new", "--merge-into", str(target)],
    )
    assert run.code == 0, run.stderr
    after = target.read_text().splitlines()
    removed = [line for line in before if line not in after]
    assert len(removed) == 1 and removed[0].startswith("    a: ")
    new_a = next(line for line in after if line.startswith("    a: "))
    assert new_a.endswith("") and "# rotated 2024-05" in after[after.index(new_a) - 1]
    assert opened_data(invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(target)])) == {
        "a": b"new",
        "b": b"2",
    }


# A SealedSecret whose odd text ruamel writes back otherwise than sealer's reader and Helm read
# it (`note` read 'keep\n\n\u2028\n', then 'keep\n\n\u2028 \n'; `extra` read 1, then
# '1\n\ufeff# c'), or so that the next edit would change it.
_SEALED_APP = (
    "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app\n  namespace: prod\n"
    "spec:\n  encryptedData:\n    a: AgBy\n"
)
UNKEPT = {
    "chomping": f"{_SEALED_APP}note: |+\n  keep\n\n\u2028  \n",
    "nel-bom": f"{_SEALED_APP}extra: 1\n".replace("\n", "\r\n") + "\x85\ufeff# c\r\n",
    "not-again": f"{_SEALED_APP}note: |+\n  keep\n\n\u2028# c\n".replace("\n", "\r\n"),
}


@pytest.mark.parametrize("content", UNKEPT.values(), ids=UNKEPT.keys())
def test_a_merge_that_would_change_another_value_is_refused(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    target = tmp_path / "sealed.yaml"
    target.write_bytes(content.encode())
    argv = [*seal_app_in_prod(keypair_2048_dir), "--from-literal", "c=3", "--merge-into", str(target)]

    run = run_main(argv, capsys)

    assert_one_line_error(run, 2, f"{target}: sealer's editor cannot rewrite this file")
    assert "simplify its odd text" in run.stderr
    assert target.read_bytes() == content.encode()


@pytest.mark.parametrize("field", ["encryptedData", "annotations"])
@pytest.mark.parametrize("empty", ["~", '""', "[]", "{}"])
def test_a_merge_into_empty_encrypted_data_or_annotations_adds_to_them(
    keypair_2048_dir: Path, tmp_path: Path, empty: str, field: str
) -> None:
    text = _SEALED_APP.replace("\n    a: AgBy\n", " {}\n").replace(
        "  namespace: prod\n", "  namespace: prod\n  annotations: {}\n"
    )
    target = write(tmp_path / "sealed.yaml", text.replace(f"{field}: {{}}", f"{field}: {empty}"))
    run = invoke([*seal_app_in_prod(keypair_2048_dir), "--from-literal", "c=3", "--merge-into", str(target)])

    assert (run.code, run.stderr) == (0, "")
    unsealed = invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(target)])
    assert opened_data(unsealed) == {"c": b"3"}


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ref.bad_certificates(tmp_path_factory.mktemp("badcerts"))


SEAL_BAD_INPUTS: dict[str, tuple[str, str]] = {
    # case: (what to break, message)
    "garbage cert": ("cert:garbage", "not a PEM certificate"),
    "ec cert": ("cert:ec", "sealing needs RSA"),
    "1024-bit cert": ("cert:weak", "too weak"),
    "expired cert": ("cert:expired", "expired on"),
    "missing cert": ("cert:missing", "cannot read certificate"),
    "not a secret": (
        "input:apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "expected a v1 Secret, got ConfigMap",
    ),
    "no namespace": ("input:" + secret_yaml(namespace=None, a=b"1"), "strict scope needs a namespace"),
    "not yaml": ("input:a: [\n", "not valid YAML"),
    "missing input": ("input:", "cannot read input file"),
    "bad base64": (
        "input:apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\ndata: {a: '!'}\n",
        "data.a is not valid base64",
    ),
}


@pytest.mark.parametrize(
    ("case", "target_option"),
    [(case, "-w") for case in sorted(SEAL_BAD_INPUTS)]
    # With --merge-into the namespace comes from the target, so a Secret without one merges fine.
    + [(case, "--merge-into") for case in sorted(SEAL_BAD_INPUTS) if case != "no namespace"],
)
def test_seal_bad_input_is_one_line_and_leaves_the_target_alone(
    keypair_2048_dir: Path,
    bad_certs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    target_option: str,
) -> None:
    what, message = SEAL_BAD_INPUTS[case]
    cert = keypair_2048_dir / "tls.crt"
    source = write(tmp_path / "in.yaml", secret_yaml(a=b"1"))
    if what.startswith("cert:"):
        cert = bad_certs[what[5:]]
    elif what == "input:":
        source = tmp_path / "missing.yaml"
    else:
        source = write(tmp_path / "in.yaml", what[6:])
    target = _commented_file(keypair_2048_dir, tmp_path)
    before = target.read_bytes()
    run = run_main(["seal", "--cert", str(cert), "-f", str(source), target_option, str(target)], capsys)
    assert_one_line_error(run, 2, message)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"in.yaml", "sealed.yaml"})


APP_IN_PROD = ["--name", "app", "-n", "prod"]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        # the target is not a SealedSecret (None: a sealed file with the user's comments)
        ("kind: Secret\nmetadata: {name: app}\n", APP_IN_PROD, "not a bitnami.com/v1alpha1 SealedSecret"),
        ("a: [\n", APP_IN_PROD, "not valid YAML"),
        ("", APP_IN_PROD, "not a bitnami.com/v1alpha1 SealedSecret"),
        ("a: 1\n---\nb: 2\n", APP_IN_PROD, "holds several YAML documents"),
        # the new entries conflict with the target
        (None, ["--name", "other", "-n", "prod"], "name is 'app', the input Secret says 'other'"),
        (None, [*APP_IN_PROD, "--scope", "cluster-wide"], "is sealed strict; --scope cluster-wide"),
        (None, [*APP_IN_PROD, "-w", "x.yaml"], "leave out -w/--write"),
        (None, [*APP_IN_PROD, "--raw"], "leave out -w/--write and --raw"),
        (None, [*APP_IN_PROD, "--from-literal", "bad key=1"], "invalid entry name"),
    ],
)
def test_a_refused_merge_leaves_the_target_untouched(
    keypair_2048_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    args: list[str],
    message: str,
) -> None:
    if content is None:
        target = _commented_file(keypair_2048_dir, tmp_path)
    else:
        target = write(tmp_path / "t.yaml", content)
    before = target.read_bytes()
    cert = str(keypair_2048_dir / "tls.crt")
    argv = ["seal", "--cert", cert, "--from-literal", "a=1", *args, "--merge-into", str(target)]
    assert_one_line_error(run_main(argv, capsys), 2, message)
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--raw", "--name", "app", "-n", "prod", "--from-literal", "a=1", "--from-literal", "b=2"],
            "exactly one",
        ),
        (["--from-literal", "a=1"], "--name is required"),
        (["--name", "App", "-n", "prod", "--from-literal", "a=1"], "invalid Secret name"),
        (["--name", "app", "--from-literal", "a=1"], "strict scope needs a namespace"),
        (["--name", "app", "-n", "prod", "--from-file", "/nonexistent/x"], "--from-file /nonexistent/x"),
        (
            ["--name", "app", "-n", "prod", "--from-literal", "a=1", "-w", "/nonexistent/dir/out.yaml"],
            "cannot write /nonexistent/dir/out.yaml",
        ),
    ],
)
def test_seal_usage_mistakes_are_one_line(
    keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert_one_line_error(
        run_main(["seal", "--cert", str(keypair_2048_dir / "tls.crt"), *args], capsys), 2, message
    )


def _sealed_doc(keypair: Path) -> dict[str, Any]:
    public = ref.load_public_key(keypair / "tls.crt")
    return ref.sealed_secret(public, "strict", "prod", "app", {"a": b"1", "b": b"2"})


def _recode(transform: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        data = doc["spec"]["encryptedData"]
        data["a"] = transform(base64.b64decode(data["a"]))

    return change


BROKEN_VALUES: dict[str, Any] = {
    "truncated": _recode(lambda b: base64.b64encode(b[:-5]).decode()),
    "url-safe": _recode(lambda b: base64.urlsafe_b64encode(b"\xfb\xff" + b[2:]).decode()),
    "unpadded": _recode(lambda b: base64.b64encode(b).decode().rstrip("=")),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VALUES))
def test_broken_ciphertext_fails_unseal_and_validate(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    doc = _sealed_doc(keypair_2048_dir)
    BROKEN_VALUES[case](doc)
    sealed = write(tmp_path / "s.yaml", doc)
    key, cert = str(keypair_2048_dir / "tls.key"), str(keypair_2048_dir / "tls.crt")
    assert_one_line_error(run_main(["unseal", "--key", key, "-f", str(sealed)], capsys), 2, "entry a")
    run = run_main(["validate", "-f", str(sealed), "--cert", cert, "--key", key], capsys)
    assert run.code == 1 and run.stderr == ""
    assert run.stdout.startswith(f"{sealed}: entry a: ") and len(run.stdout.splitlines()) == 1


def test_validate_json_output_lists_problems(keypair_2048_dir: Path, tmp_path: Path) -> None:
    doc = _sealed_doc(keypair_2048_dir)
    BROKEN_VALUES["truncated"](doc)
    sealed = write(tmp_path / "s.yaml", doc)
    run = invoke(["validate", "-f", str(sealed), "--cert", str(keypair_2048_dir / "tls.crt"), "-o", "json"])
    data = json.loads(run.stdout)
    assert run.code == 1 and data["ok"] is False and data["entries"] == 2
    assert data["problems"] == [
        f"{sealed}: entry a: truncated: shorter than the length prefix and GCM tag need",
        f"{sealed}: cannot tell which certificate sealed it (sealer did not record it): pass --key to check",
    ]


def test_validate_with_the_wrong_key_is_a_finding(keypair_2048_dir: Path, tmp_path: Path) -> None:
    sealed = write(tmp_path / "s.yaml", _sealed_doc(keypair_2048_dir))
    other = ref.write_key(tmp_path / "other.pem", ref.rsa_key(2048))
    run = invoke(
        ["validate", "-f", str(sealed), "--cert", str(keypair_2048_dir / "tls.crt"), "--key", str(other)]
    )
    assert run.code == 1 and "entry a: does not decrypt with the given key(s)" in run.stdout


@pytest.mark.parametrize(
    ("command", "make", "message"),
    [
        ("unseal", "wrong key", "entry a: no key opens this value"),
        ("unseal", "garbage key", "not an unencrypted PEM private key"),
        (  # the file beside tls.key: the one line says which to give instead
            "unseal",
            "certificate as key",
            "not an unencrypted PEM private key (it holds a certificate: give the private key, e.g. tls.key)",
        ),
        ("unseal", "missing key", "cannot read key file"),
        ("unseal", "not sealed", "not a bitnami.com/v1alpha1 SealedSecret"),
        ("unseal", "empty input", "no SealedSecret found"),
        ("unseal", "missing input", "cannot read input file"),
        ("validate", "garbage cert", "not a PEM certificate"),
        ("validate", "ec cert", "sealing needs RSA"),
        ("validate", "not sealed", "not a bitnami.com/v1alpha1 SealedSecret"),
        ("validate", "empty input", "no SealedSecret found"),
        ("validate", "missing input", "cannot read input file"),
    ],
)
def test_unseal_and_validate_bad_input_is_one_line(
    keypair_2048_dir: Path,
    bad_certs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    make: str,
    message: str,
) -> None:
    key, cert = keypair_2048_dir / "tls.key", keypair_2048_dir / "tls.crt"
    sealed = write(tmp_path / "s.yaml", _sealed_doc(keypair_2048_dir))
    if make == "wrong key":
        key = ref.write_key(tmp_path / "other.pem", ref.rsa_key(2048))
    elif make == "garbage key":
        key = write(tmp_path / "k.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    elif make == "certificate as key":
        key = cert
    elif make == "missing key":
        key = tmp_path / "nope.pem"
    elif make == "not sealed":
        sealed = write(tmp_path / "s.yaml", secret_yaml(a=b"1"))
    elif make == "empty input":
        sealed = write(tmp_path / "s.yaml", "")
    elif make == "missing input":
        sealed = tmp_path / "nope.yaml"
    elif make.endswith("cert"):
        cert = bad_certs[make.split()[0]]
    args = ["-f", str(sealed), "--key", str(key)]
    if command == "validate":
        args += ["--cert", str(cert)]
    assert_one_line_error(run_main([command, *args], capsys), 2, message)


def test_unseal_tries_every_key_given(keypair_2048_dir: Path, keypair_3072_dir: Path, tmp_path: Path) -> None:
    sealed = write(tmp_path / "s.yaml", _sealed_doc(keypair_2048_dir))
    keys = tmp_path / "keys.yaml"
    shutil.copy(keypair_3072_dir / "sealed-secrets-key.yaml", keys)
    run = invoke(
        [
            "unseal",
            "--key",
            str(keys),
            "--key",
            str(keypair_2048_dir / "sealed-secrets-key.yaml"),
            "-f",
            str(sealed),
        ]
    )
    assert opened_data(run) == {"a": b"1", "b": b"2"}


def test_the_seal_path_stays_light(keypair_2048_dir: Path, tmp_path: Path) -> None:
    """`sealer seal` loads neither cryptography.x509 (a fit certificate is read directly) nor
    the round-trip YAML or template libraries: start-up is a large part of sealing."""
    import subprocess
    import sys

    source = write(tmp_path / "in.yaml", secret_yaml(a=b"1"))
    code = (
        "import sys\nfrom sealer.cli import main\n"
        f"code = main(['seal', '-f', {str(source)!r}, '--cert', {str(keypair_2048_dir / 'tls.crt')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('cryptography.x509', 'ruamel', 'jinja2')))\n"
        "print('HEAVY', heavy, file=sys.stderr)\nraise SystemExit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
    assert yaml.safe_load(done.stdout)["kind"] == "SealedSecret"


def test_unseal_and_validate_read_a_v1_list(keypair_2048_dir: Path, tmp_path: Path) -> None:
    """What `kubectl get sealedsecrets -o yaml` prints."""
    public = ref.load_public_key(keypair_2048_dir / "tls.crt")
    items = [
        ref.sealed_secret(public, "strict", "prod", name, {"a": name.encode()}) for name in ("one", "two")
    ]
    listed = write(tmp_path / "list.yaml", {"apiVersion": "v1", "kind": "List", "items": items})
    key, cert = str(keypair_2048_dir / "tls.key"), str(keypair_2048_dir / "tls.crt")
    run = invoke(["unseal", "--key", key, "-f", str(listed)])
    assert [d["data"] for d in yaml.safe_load_all(run.stdout)] == [{"a": "b25l"}, {"a": "dHdv"}]
    run = invoke(["validate", "-f", str(listed), "--cert", cert, "--key", key])
    assert (run.code, run.stdout.strip()) == (0, "ok: 2 SealedSecret(s), 2 entries")
