"""A pinned certificate file holds exactly its one certificate (#14): kubeseal and sealer seal
with the first PEM block, so a second certificate, a key or other text after it is refused by
every command that reads the pin, with one line and exit 2 (`check` reports it as an error)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import sealer as cli
from support.git import commit_all
from support.isolation import isolated
from support.repos import EnvSpec, copy_repo, make_repo

ENV = "staging"
CERT = "certs/staging.pem"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, keypair_dir: Path) -> Path:
    with isolated(tmp_path_factory.mktemp("home")):
        root = make_repo(tmp_path_factory.mktemp("pinned") / "repo", [EnvSpec(ENV, keypair_dir)])
        (root / "policy.yaml").write_text("rules: {}\n")
        commit_all(root, "policy")
    return root


def _extras(keypair_dir: Path, keypair_3072_dir: Path) -> dict[str, bytes]:
    return {
        "second-cert": (keypair_3072_dir / "tls.crt").read_bytes(),
        "private-key": (keypair_dir / "tls.key").read_bytes(),
        "garbage": b"not a certificate\n",
    }


@pytest.mark.parametrize("extra", ["second-cert", "private-key", "garbage"])
@pytest.mark.parametrize(
    "args", [["rotate", ENV, "--no-branch"], ["render", ENV], ["cert", "status"]], ids=lambda a: a[0]
)
def test_a_pinned_file_with_more_than_its_certificate_is_refused(
    template: Path, tmp_path: Path, keypair_dir: Path, keypair_3072_dir: Path, extra: str, args: list[str]
) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    cert = repo / CERT
    cert.write_bytes(cert.read_bytes() + _extras(keypair_dir, keypair_3072_dir)[extra])
    result = cli(repo, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "must hold one PEM certificate and nothing else" in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("extra", ["second-cert", "private-key", "garbage"])
def test_check_reports_it_as_an_error(
    template: Path, tmp_path: Path, keypair_dir: Path, keypair_3072_dir: Path, extra: str
) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    cert = repo / CERT
    cert.write_bytes(cert.read_bytes() + _extras(keypair_dir, keypair_3072_dir)[extra])
    result = cli(repo, "check", "--policy", "policy.yaml")
    assert result.exit_code == 1, result.output
    assert "must hold one PEM certificate and nothing else" in result.output


@pytest.mark.parametrize(
    "respelt",
    [
        lambda pem: b"\n" + pem + b"\n\n",
        lambda pem: pem.replace(b"\n", b"\r\n"),  # Git's autocrlf on a Windows checkout
        lambda pem: pem.replace(b"\n", b"\r"),
        lambda pem: pem.replace(b"\n", b" \t\n"),  # an editor's spaces at line ends
        lambda pem: b"\xef\xbb\xbf" + pem,  # a UTF-8 byte-order mark
    ],
    ids=["blank-lines", "crlf", "cr", "trailing-spaces", "bom"],
)
def test_whitespace_around_the_certificate_is_fine(
    template: Path, tmp_path: Path, respelt: Callable[[bytes], bytes]
) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    cert = repo / CERT
    cert.write_bytes(respelt(cert.read_bytes()))
    result = cli(repo, "rotate", ENV, "--no-branch")
    assert result.exit_code == 0, result.output


def test_cert_add_refuses_a_file_with_a_second_certificate(
    template: Path, tmp_path: Path, keypair_dir: Path, keypair_3072_dir: Path
) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    chain = tmp_path / "chain.pem"
    chain.write_bytes((keypair_3072_dir / "tls.crt").read_bytes() + (keypair_dir / "tls.crt").read_bytes())
    before = (repo / "sealer.yaml").read_bytes()
    result = cli(repo, "cert", "add", ENV, "--file", str(chain), "--cluster", "other")
    assert result.exit_code == 2, result.output
    assert "must hold one PEM certificate and nothing else" in result.stderr
    assert (repo / "sealer.yaml").read_bytes() == before
