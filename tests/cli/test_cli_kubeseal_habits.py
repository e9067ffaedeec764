"""kubeseal habits that work with sealer too (issue 21), checked against the independent
decrypt path in tests/reference.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reference as ref
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from support.cli import assert_one_line_error, invoke, run_main
from test_cli_sealing import secret_yaml, write

from sealer.validate import CANNOT_TELL


def cert_of(keypair: Path) -> str:
    return str(keypair / "tls.crt")


def opens_to(keypair: Path, label: bytes, sealed: str) -> bytes:
    return ref.decrypt(ref.load_key(keypair / "tls.key"), label, sealed.strip())


# --- a Secret with no data ----------------------------------------------------------------


def test_a_secret_without_data_is_refused(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.yaml", secret_yaml())
    out = tmp_path / "out.yaml"
    run = run_main(["seal", "--cert", cert_of(keypair_2048_dir), "-f", str(source), "-w", str(out)], capsys)
    assert_one_line_error(run, 2, "Secret app has no data to seal (pass --allow-empty-data")
    assert not out.exists()


def test_allow_empty_data_seals_it(keypair_2048_dir: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "in.yaml", secret_yaml())
    run = invoke(["seal", "--cert", cert_of(keypair_2048_dir), "-f", str(source), "--allow-empty-data"])
    assert run.code == 0, run.stderr
    assert yaml.safe_load(run.stdout)["spec"]["encryptedData"] == {}


# --- raw mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "args", "label"),
    [
        ("strict", ["--name", "app", "-n", "prod"], b"prod/app"),
        ("namespace-wide", ["-n", "prod"], b"prod"),
        ("cluster-wide", [], b""),
    ],
)
def test_raw_reads_the_value_from_stdin_and_needs_only_what_the_scope_binds(
    keypair_2048_dir: Path, scope: str, args: list[str], label: bytes
) -> None:
    value = b"s3cr3t\n\x00\xff"  # bytes as they come: newline and binary kept
    run = invoke(["seal", "--cert", cert_of(keypair_2048_dir), "--raw", "--scope", scope, *args], stdin=value)
    assert run.code == 0, run.stderr
    assert opens_to(keypair_2048_dir, label, run.stdout) == value


@pytest.mark.parametrize(
    ("scope", "args", "label", "bound"),
    [
        ("strict", ["--name", "app", "-n", "prod"], b"prod/app", ("prod", "app")),
        ("namespace-wide", ["--name", "app", "-n", "prod"], b"prod", ("prod", None)),
        ("cluster-wide", ["-n", "prod"], b"", (None, None)),
    ],
)
def test_raw_with_output_json_prints_an_object_a_pipeline_can_parse(
    keypair_2048_dir: Path, scope: str, args: list[str], label: bytes, bound: tuple[str | None, str | None]
) -> None:
    """Plain --raw prints the bare base64 kubeseal prints; with -o json, as every pipeline
    command, a JSON object: the value, its scope and what of namespace and name it is bound to."""
    cert = cert_of(keypair_2048_dir)
    run = invoke(["seal", "--cert", cert, "--raw", "--scope", scope, *args, "-o", "json"], stdin=b"s3cr3t")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert (data["scope"], data["namespace"], data["name"]) == (scope, *bound)
    pem = (keypair_2048_dir / "tls.crt").read_bytes()
    assert data["cert_sha256"] == x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    assert opens_to(keypair_2048_dir, label, data["encrypted"]) == b"s3cr3t"
    bare = invoke(["seal", "--cert", cert, "--raw", "--scope", scope, *args], stdin=b"s3cr3t")
    assert bare.code == 0 and bare.stdout.count("\n") == 1 and not bare.stdout.startswith("{")
    assert opens_to(keypair_2048_dir, label, bare.stdout) == b"s3cr3t"


def test_raw_with_a_literal_and_no_name_for_namespace_wide(keypair_2048_dir: Path) -> None:
    args = ["--raw", "--scope", "namespace-wide", "-n", "prod", "--from-literal", "k=v"]
    run = invoke(["seal", "--cert", cert_of(keypair_2048_dir), *args])
    assert run.code == 0, run.stderr
    assert opens_to(keypair_2048_dir, b"prod", run.stdout) == b"v"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "prod"], "strict scope needs a name"),
        (["--scope", "namespace-wide"], "namespace-wide scope needs a namespace"),
        (["--name", "App", "-n", "prod"], "invalid Secret name"),
        (["--scope", "cluster-wide", "--from-literal", "a=1", "--from-file", "b=x"], "exactly one value"),
    ],
)
def test_raw_mistakes_are_one_line(
    keypair_2048_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"value")))
    run = run_main(["seal", "--cert", cert_of(keypair_2048_dir), "--raw", *args], capsys)
    assert_one_line_error(run, 2, message)


def test_an_empty_raw_value_is_refused_unless_allowed(keypair_2048_dir: Path) -> None:
    args = ["seal", "--cert", cert_of(keypair_2048_dir), "--raw", "--scope", "cluster-wide"]
    run = invoke(args, stdin=b"")
    assert run.code == 2 and "the value is empty (pass --allow-empty-data" in run.stderr
    run = invoke([*args, "--allow-empty-data"], stdin=b"")
    assert run.code == 0, run.stderr
    assert opens_to(keypair_2048_dir, b"", run.stdout) == b""


def test_a_huge_raw_value_on_stdin_is_refused(
    keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bytes(1024 * 1024 + 1))))
    run = run_main(["seal", "--cert", cert_of(keypair_2048_dir), "--raw", "--scope", "cluster-wide"], capsys)
    assert_one_line_error(run, 2, "value is larger than 1024 KiB")


# --- output formats -------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "fmt"), [("-o", "json"), ("--output", "yaml"), ("--format", "json")])
def test_output_option_picks_the_format(keypair_2048_dir: Path, option: str, fmt: str) -> None:
    run = invoke([*_seal_app(keypair_2048_dir), option, fmt])
    assert run.code == 0, run.stderr
    doc = json.loads(run.stdout) if fmt == "json" else yaml.safe_load(run.stdout)
    assert run.stdout.lstrip().startswith("{") == (fmt == "json")
    assert opens_to(keypair_2048_dir, b"prod/app", doc["spec"]["encryptedData"]["k"]) == b"v"


def test_write_to_a_json_file_writes_json(keypair_2048_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sealed.json"
    assert invoke([*_seal_app(keypair_2048_dir), "-w", str(out)]).code == 0
    doc = json.loads(out.read_text())
    assert opens_to(keypair_2048_dir, b"prod/app", doc["spec"]["encryptedData"]["k"]) == b"v"


def test_a_format_contradicting_the_file_name_is_refused(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sealed.json"
    run = run_main([*_seal_app(keypair_2048_dir), "-o", "yaml", "-w", str(out)], capsys)
    assert_one_line_error(run, 2, "-o yaml but")
    assert not out.exists()


def _seal_app(keypair: Path) -> list[str]:
    return ["seal", "--cert", cert_of(keypair), "--name", "app", "-n", "prod", "--from-literal", "k=v"]


# --- unseal keys ----------------------------------------------------------------------------


def test_unseal_takes_a_comma_separated_key_list(
    keypair_2048_dir: Path, keypair_3072_dir: Path, tmp_path: Path
) -> None:
    public = ref.load_public_key(keypair_2048_dir / "tls.crt")
    sealed = write(tmp_path / "s.yaml", ref.sealed_secret(public, "strict", "prod", "app", {"a": b"1"}))
    keys = f"{keypair_3072_dir / 'tls.key'},{keypair_2048_dir / 'tls.key'}"
    run = invoke(["unseal", "--key", keys, "-f", str(sealed), "-o", "json"])
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["data"] == {"a": base64.b64encode(b"1").decode()}


def test_a_key_file_whose_name_holds_a_comma_still_works(keypair_2048_dir: Path, tmp_path: Path) -> None:
    import shutil

    public = ref.load_public_key(keypair_2048_dir / "tls.crt")
    sealed = write(tmp_path / "s.yaml", ref.sealed_secret(public, "cluster-wide", "prod", "app", {"a": b"1"}))
    key = tmp_path / "prod,old.key"
    shutil.copy(keypair_2048_dir / "tls.key", key)
    run = invoke(["unseal", "--key", str(key), "-f", str(sealed), "-o", "json"])
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["data"] == {"a": "MQ=="}


def test_an_empty_name_in_the_key_list_is_one_line(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = write(tmp_path / "s.yaml", "")
    run = run_main(["unseal", "--key", f"{keypair_2048_dir / 'tls.key'},", "-f", str(sealed)], capsys)
    assert_one_line_error(run, 2, "an empty one was given")


# --- validate on a SealedSecret sealer did not write ------------------------------------------


def test_validate_cannot_tell_without_a_key_what_sealed_a_foreign_sealed_secret(
    keypair_2048_dir: Path, tmp_path: Path
) -> None:
    public = ref.load_public_key(keypair_2048_dir / "tls.crt")
    sealed = write(tmp_path / "s.yaml", ref.sealed_secret(public, "strict", "prod", "app", {"a": b"1"}))
    args = ["validate", "-f", str(sealed), "--cert", cert_of(keypair_2048_dir)]
    run = invoke(args)
    assert (run.code, run.stdout) == (1, f"{sealed}: {CANNOT_TELL}\n")
    run = invoke([*args, "--key", str(keypair_2048_dir / "tls.key")])
    assert (run.code, run.stdout) == (0, "ok: 1 SealedSecret(s), 1 entries\n")


def test_validate_without_a_key_is_ok_for_what_sealer_sealed(keypair_2048_dir: Path, tmp_path: Path) -> None:
    sealed = tmp_path / "s.yaml"
    assert invoke([*_seal_app(keypair_2048_dir), "-w", str(sealed)]).code == 0
    run = invoke(["validate", "-f", str(sealed), "--cert", cert_of(keypair_2048_dir)])
    assert (run.code, run.stdout) == (0, "ok: 1 SealedSecret(s), 1 entries\n")


# --- where the certificate comes from --------------------------------------------------------


def test_the_certificate_from_sealed_secrets_cert(
    keypair_2048_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALED_SECRETS_CERT", cert_of(keypair_2048_dir))
    run = invoke(["seal", "--raw", "--scope", "cluster-wide", "--from-literal", "k=v"])
    assert run.code == 0, run.stderr
    assert opens_to(keypair_2048_dir, b"", run.stdout) == b"v"


def _fingerprint(keypair: Path) -> str:
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((keypair / "tls.crt").read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_a_matching_pin_seals(keypair_2048_dir: Path) -> None:
    digest = _fingerprint(keypair_2048_dir).upper()
    pin = ":".join(digest[i : i + 2] for i in range(0, 64, 2))  # as openssl prints it
    run = invoke([*_seal_app(keypair_2048_dir), "--cert-sha256", pin])
    assert run.code == 0, run.stderr


@pytest.mark.parametrize(("pin", "message"), [("ab" * 32, "not the pinned abab"), ("xyz", "64 hex digits")])
def test_a_wrong_pin_is_refused(
    keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str], pin: str, message: str
) -> None:
    for command in (
        [*_seal_app(keypair_2048_dir)],
        ["validate", "-f", "-", "--cert", cert_of(keypair_2048_dir)],
    ):
        assert_one_line_error(run_main([*command, "--cert-sha256", pin], capsys), 2, message)


# --- --cert https://… ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from support.fake_cert_server import make_ca

    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def cert_server(test_ca: Any, keypair_2048_dir: Path) -> Iterator[Any]:
    from support.fake_cert_server import CertServer

    server = CertServer(test_ca, (keypair_2048_dir / "tls.crt").read_bytes())
    yield server
    server.stop()


@pytest.fixture
def trusted(test_ca: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented way to trust another CA: SSL_CERT_FILE, read by OpenSSL. No proxies."""
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_file))
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_seal_with_a_certificate_from_an_https_url(
    cert_server: Any, trusted: None, keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{cert_server.url}/cert.pem"
    args = [
        "seal",
        "--cert",
        url,
        "--raw",
        "-n",
        "prod",
        "--scope",
        "namespace-wide",
        "--from-literal",
        "k=v",
    ]
    run = run_main([*args, "--cert-sha256", _fingerprint(keypair_2048_dir)], capsys)
    assert run.code == 0, run.stderr
    assert opens_to(keypair_2048_dir, b"prod", run.stdout) == b"v"


def test_validate_with_a_certificate_from_an_https_url(
    cert_server: Any, trusted: None, keypair_2048_dir: Path, tmp_path: Path
) -> None:
    sealed = tmp_path / "s.yaml"
    assert invoke([*_seal_app(keypair_2048_dir), "-w", str(sealed)]).code == 0
    run = invoke(["validate", "-f", str(sealed), "--cert", f"{cert_server.url}/cert.pem"])
    assert (run.code, run.stdout) == (0, "ok: 1 SealedSecret(s), 1 entries\n")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/redirect-to-http", "redirected (302); give the final https:// URL"),
        ("/huge", "response is larger than 64 KiB"),
        ("/huge-declared", "response is larger than 64 KiB"),
        ("/not-found", "HTTP 404"),
        ("/garbage", "not a PEM certificate"),
        ("/cert.pem --cert-sha256 " + "00" * 32, "not the pinned 0000"),
    ],
)
def test_a_bad_certificate_url_is_one_line(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str], path: str, message: str
) -> None:
    url, *more = path.split()
    run = run_main(["seal", "--cert", cert_server.url + url, *more, *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, message)


def test_a_malformed_pin_fails_before_any_fetch(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(cert_server.requests)
    run = run_main(["seal", "--cert", f"{cert_server.url}/cert.pem", "--cert-sha256", "sha256:ab"], capsys)
    assert_one_line_error(run, 2, "64 hex digits")
    assert len(cert_server.requests) == before


_RAW_CLUSTER_WIDE = ["--raw", "--scope", "cluster-wide", "--from-literal", "k=v"]


def test_a_server_the_system_cas_do_not_trust_is_refused(
    cert_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SSL_CERT_FILE", str(ref.write_cert(tmp_path / "other-ca.pem", ref.certificate(ref.rsa_key(2048))))
    )
    run = run_main(["seal", "--cert", f"{cert_server.url}/cert.pem", *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "certificate verify failed")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/cert.pem", "file:///etc/passwd", "ftp://127.0.0.1/x", "HTTP://127.0.0.1:9/x"]
)
def test_only_https_urls_are_fetched(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["seal", "--cert", url, *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "only https:// URLs are fetched")


def test_a_stalling_server_is_given_up_on_in_time(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from sealer import certsource

    monkeypatch.setattr(certsource, "TIMEOUT_SECONDS", 0.5)
    started = time.monotonic()
    run = run_main(["seal", "--cert", f"{cert_server.url}/stall", *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "no answer within 0.5 seconds")
    assert time.monotonic() - started < 5


def test_credentials_and_query_in_the_url_stay_out_of_the_error(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cert_server.url.replace("https://", "https://alice:hunter2@") + "/not-found?token=t0ps3cret"
    run = run_main(["seal", "--cert", url, *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "credentials in the URL are not supported")
    assert cert_server.requests.count("/not-found?token=t0ps3cret") == 0
    assert "hunter2" not in run.stderr and "t0ps3cret" not in run.stderr and "alice" not in run.stderr


def test_the_query_of_a_url_stays_out_of_the_error(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_main(
        ["seal", "--cert", f"{cert_server.url}/not-found?token=t0ps3cret", *_RAW_CLUSTER_WIDE], capsys
    )
    assert_one_line_error(run, 2, f"--cert {cert_server.url}/not-found: HTTP 404")
    assert "t0ps3cret" not in run.stderr


# --- spec.template.data ----------------------------------------------------------------------


def _templated(keypair: Path, tmp_path: Path, templates: dict[str, str]) -> Path:
    public = ref.load_public_key(keypair / "tls.crt")
    doc: Any = ref.sealed_secret(public, "strict", "prod", "app", {"user": b"admin", "password": b"s3cr3t"})
    doc["spec"]["template"]["data"] = templates
    return write(tmp_path / "s.yaml", doc)


def test_unseal_renders_template_data_as_the_controller_does(keypair_2048_dir: Path, tmp_path: Path) -> None:
    sealed = _templated(
        keypair_2048_dir,
        tmp_path,
        {
            "config.yaml": "url: https://{{ .user }}@db\npassword: {{ .password | b64enc }}\n",
            "password": "{{ .password }}!",  # a template entry replaces the encrypted one
        },
    )
    run = invoke(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(sealed), "-o", "json"])
    assert run.code == 0, run.stderr
    data = {k: base64.b64decode(v) for k, v in json.loads(run.stdout)["data"].items()}
    assert data == {
        "user": b"admin",
        "password": b"s3cr3t!",
        "config.yaml": b"url: https://admin@db\npassword: czNjcjN0\n",
    }


def test_a_template_outside_the_subset_is_one_line(
    keypair_2048_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = _templated(keypair_2048_dir, tmp_path, {"x": "{{ range . }}{{ end }}"})
    run = run_main(["unseal", "--key", str(keypair_2048_dir / "tls.key"), "-f", str(sealed)], capsys)
    assert_one_line_error(run, 2, "app template data x: function 'range' is not in the template subset")


def test_control_characters_in_a_url_do_not_reach_the_terminal(
    cert_server: Any, trusted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_main(["seal", "--cert", f"{cert_server.url}/x\x1b[31m\x07y", *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "--cert")
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr


def test_a_malformed_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["seal", "--cert", "https://[::1/cert.pem", *_RAW_CLUSTER_WIDE], capsys)
    assert_one_line_error(run, 2, "not a valid URL")
