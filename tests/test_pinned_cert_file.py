"""A pinned certificate file holds exactly its one certificate (#14): kubeseal and sealer seal
with the first PEM block, so a second certificate, a key or other text after it is refused by
every command that reads the pin, with one line and exit 2 (`check` reports it as an error)."""

from __future__ import annotations

import json
import shutil
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


def _unpinned(keypair_dir: Path, keypair_3072_dir: Path) -> dict[str, tuple[bytes, str | None]]:
    """A file no cluster pins under certs/ -> (its bytes, what check and review say it holds)."""
    other, key = (keypair_3072_dir / "tls.crt").read_bytes(), (keypair_dir / "tls.key").read_bytes()
    return {
        "private-key": (key, "holds a private key and no certificate"),
        "cert-and-key": (other + key, "holds a private key beside the certificate"),
        "two-certs": (other + other, "holds 2 certificates"),
        "cert-and-text": (other + b"see https://example.invalid/real\n", "holds text beside the certificate"),
        "text": (b"not a certificate\n", "holds no PEM certificate"),
        "one-cert": (other, None),
        "empty": (b"", None),  # a .gitkeep
    }


UNPINNED = ["private-key", "cert-and-key", "two-certs", "cert-and-text", "text", "one-cert", "empty"]


def _content_problems(repo: Path) -> list[str]:
    result = cli(repo, "check", "--policy", "policy.yaml", "--output", "json")
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    problems = json.loads(result.stdout)["problems"]
    return [p["message"] for p in problems if p["rule"] == "cert-file-content"]


@pytest.mark.parametrize("content", UNPINNED)
def test_check_holds_a_file_no_cluster_pins_to_one_certificate(
    template: Path, tmp_path: Path, keypair_dir: Path, keypair_3072_dir: Path, content: str
) -> None:
    """Another file under certs/ (a PR's `certs/prod/extra.pem`): no rule of an environment reads
    it, yet kubeseal's `--cert`, a reviewer or a script may take it for a certificate."""
    repo = copy_repo(template, tmp_path / "repo")
    data, holds = _unpinned(keypair_dir, keypair_3072_dir)[content]
    (repo / "certs/prod").mkdir()
    (repo / "certs/prod/extra.pem").write_bytes(data)
    assert _content_problems(repo) == []  # on disk, in no commit: a `.DS_Store` is not refused
    commit_all(repo, "extra")
    want = f"certs/prod/extra.pem {holds}: a file under certs/ must hold one PEM certificate and nothing else"
    assert _content_problems(repo) == ([want] if holds else [])


@pytest.mark.parametrize("folder", ["Certs", "CERTS", "cert\u200cs"])
def test_check_holds_the_certificates_folder_in_any_case_to_one_certificate(
    template: Path, tmp_path: Path, folder: str
) -> None:
    """On a case-insensitive file system (macOS, a Windows checkout) `Certs/` is `certs/`: what
    Git holds there is held to the rule too, here where Linux keeps them apart."""
    repo = copy_repo(template, tmp_path / "repo")
    (repo / folder).mkdir()
    (repo / folder / "extra.pem").write_text("not a certificate\n")
    commit_all(repo, "extra")
    assert _content_problems(repo) == [f"{folder}/extra.pem holds no PEM certificate: {RULE_TEXT}"]


def test_check_finds_what_git_holds_in_another_case_in_the_folder_checked_out(
    template: Path, tmp_path: Path
) -> None:
    """A case-insensitive file system checks `Certs/extra.pem` out into the `certs/` folder it
    has: the file is found there, though Git spells its path otherwise."""
    from support.git import git

    repo = copy_repo(template, tmp_path / "repo")
    (repo / "certs/extra.pem").write_text("not a certificate\n")
    blob = git(repo, "hash-object", "-w", "certs/extra.pem").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},Certs/extra.pem")
    git(repo, "commit", "-q", "-m", "extra")
    assert _content_problems(repo) == [f"certs/extra.pem holds no PEM certificate: {RULE_TEXT}"]


def test_check_does_not_follow_a_link_under_certs(template: Path, tmp_path: Path) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    (repo / "certs/extra.pem").symlink_to("staging.pem")
    (repo / "certs/linked").symlink_to(".")
    commit_all(repo, "links")
    found = _content_problems(repo)
    assert [m.split(" ", 1)[0] for m in found] == ["certs/extra.pem", "certs/linked"], found
    assert all("is a symlink" in m for m in found), found


def test_check_does_not_list_a_certs_folder_that_is_a_link(template: Path, tmp_path: Path) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    (repo / "certs").rename(repo / "real-certs")
    (repo / "certs").symlink_to("real-certs")
    commit_all(repo, "certs/ a link")
    found = _content_problems(repo)
    assert len(found) == 1 and found[0].startswith("certs cannot be listed: "), found
    assert "symlink" in found[0], found


RULE_TEXT = "a file under certs/ must hold one PEM certificate and nothing else"


@pytest.mark.parametrize("on_disk", [True, False], ids=["checked-out", "folder-removed"])
def test_check_names_a_submodule_under_certs(
    template: Path, tmp_path: Path, keypair_dir: Path, on_disk: bool
) -> None:
    """A submodule there is one entry in Git, its files another repository's: none of them is a
    file Git holds here, so each would pass unread; the submodule itself is named. Told by Git's
    mode, not the disk: its folder removed by hand, every checkout (CI's) makes it again."""
    from support.git import git

    repo = copy_repo(template, tmp_path / "repo")
    (repo / "certs/vendor").mkdir()
    (repo / "certs/vendor/prod.pem").write_bytes((keypair_dir / "tls.key").read_bytes())
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},certs/vendor")
    git(repo, "commit", "-q", "-m", "vendor certificates")
    if not on_disk:
        shutil.rmtree(repo / "certs/vendor")
    found = _content_problems(repo)
    assert found == [f"certs/vendor is a submodule: {RULE_TEXT}"]
    git(repo, "rm", "-q", "--cached", "certs/vendor")
    assert _content_problems(repo) == []


def test_check_reads_a_file_folders_deep_under_certs(template: Path, tmp_path: Path) -> None:
    """Git holds a path of a thousand folders as any other: check reads it, one problem, no
    traceback (its walk went one call a folder, past Python's recursion limit)."""
    import subprocess

    repo = copy_repo(template, tmp_path / "repo")
    deep = "certs/" + "a/" * 1100
    subprocess.run(["mkdir", "-p", deep], cwd=repo, check=True)  # os.makedirs recurses as deep
    try:
        (repo / deep / "x.pem").write_text("text\n")
        commit_all(repo, "deep")
        assert _content_problems(repo) == [f"{deep}x.pem holds no PEM certificate: {RULE_TEXT}"]
    finally:  # pytest's own clean-up of its temporary folders recurses as deep
        subprocess.run(["rm", "-rf", "certs/a"], cwd=repo, check=True)


def test_check_tells_what_git_holds_among_thousands_under_certs_quickly(
    template: Path, tmp_path: Path
) -> None:
    """Git's index holding 20,000 paths under certs/, the disk 1,000 more it does not hold: each
    file on disk is looked up among Git's paths by bisection (a scan of them all for each file
    took seconds, quadratic), with the same answer: only what Git holds is read."""
    import time

    from support.git import git

    from sealer import config
    from sealer.policy import certfolder
    from sealer.policy.leftovers import Index

    repo = copy_repo(template, tmp_path / "repo")
    tracked = set(git(repo, "ls-files").split()) | {f"certs/bulk/{i:05}.pem" for i in range(20_000)}
    for folder in ("bulk", "local"):
        (repo / "certs" / folder).mkdir()
    for i in range(1_000):  # on disk, in no commit: not read
        (repo / f"certs/local/{i:05}.pem").write_text("not a certificate\n")
    (repo / "certs/bulk/00042.pem").write_text("not a certificate\n")
    cfg = config.load(repo)
    started = time.perf_counter()
    found = certfolder.problems(cfg, Index(frozenset(tracked)))
    elapsed = time.perf_counter() - started
    assert [p.message for p in found] == [f"certs/bulk/00042.pem holds no PEM certificate: {RULE_TEXT}"]
    assert elapsed < 1.0, f"{elapsed:.2f}s"
