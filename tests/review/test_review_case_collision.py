"""A pull request adding one of sealer's paths in another case (`Ledger/staging.yaml`,
`SEALER.yaml`): a case-insensitive file system (macOS, Windows) checks it out over the real file,
so sealer run there reads the attacker's. Review's `case-collision`, which no approval lets through."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.git import commit_all
from support.pull_requests import on_main, run_review, write
from support.repos import keypairs, pr_checkout, rotated_template

from sealer import config


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging and production rotated once."""
    return rotated_template(tmp_path_factory, keypairs(tmp_path_factory, "staging", "production"))


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def values_file(repo: Path) -> str:
    return config.load(repo).env("staging").values_file


# (the path added, a copy of which file, the managed path it is in another case)
VARIANTS = [
    ("SEALER.yaml", "sealer.yaml", "sealer.yaml"),
    ("Ledger/staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),
    ("ledger/Staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),
    ("LEDGER/other.yaml", "ledger/staging.yaml", "ledger/"),
    ("Sealed/staging/staging.yaml", "sealed/staging/staging.yaml", "sealed/staging/staging.yaml"),
    ("sealed/staging/Staging.yaml", "sealed/staging/staging.yaml", "sealed/staging/staging.yaml"),
    ("sealed/Staging/extra.yaml", "sealed/staging/staging.yaml", "sealed/staging/"),
    ("Sealed/other/other.yaml", "sealed/staging/staging.yaml", "sealed/"),
    ("REGISTRY/staging/staging.yaml", "registry/staging/staging.yaml", "registry/staging/staging.yaml"),
    (".Sealer/approvers", "sealer.yaml", ".sealer/"),
    ("certs/Staging.pem", "certs/staging.pem", "certs/staging.pem"),
    (".PRE-COMMIT-CONFIG.YAML", ".pre-commit-config.yaml", ".pre-commit-config.yaml"),
    ("led\u200cger/staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),  # HFS+ ignores the joiner
    ("ſealer.yaml", "sealer.yaml", "sealer.yaml"),  # the long s folds to s
]


@pytest.mark.parametrize(("path", "copied", "managed"), VARIANTS)
def test_a_managed_path_added_in_another_case_fails(repo: Path, path: str, copied: str, managed: str) -> None:
    write(repo, path, (repo / copied).read_text())
    adding = commit_all(repo, "another spelling")
    code, findings = run_review(repo, "main", "HEAD", "--approvals-from", "codeowners")
    shown = path.encode("ascii", "backslashreplace").decode()
    assert code == 1
    assert {
        "rule": "case-collision",
        "env": "",
        "path": path,
        "entry": None,
        "message": f"commit {adding[:12]} adds it: sealer's {managed} spelt in another case: a "
        "case-insensitive file system (macOS, Windows) checks both out as one file",
    } in findings, (shown, findings)


def test_a_values_file_added_in_another_case_fails(repo: Path) -> None:
    values = values_file(repo)
    upper = values.upper()
    write(repo, upper, (repo / values).read_text())
    commit_all(repo, "another spelling")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and ("case-collision", upper) in [(f["rule"], f["path"]) for f in findings], findings


def test_a_path_colliding_with_a_managed_one_at_head_fails(repo: Path) -> None:
    """Neither spelling is one sealer.yaml names (an environment removed), yet both lie in ledger/:
    the one added is checked out over the one HEAD holds."""
    on_main(repo, {"ledger/gone.yaml": "[]\n"})
    write(repo, "ledger/GONE.yaml", "[]\n")
    commit_all(repo, "again")
    code, findings = run_review(repo, "main", "HEAD")
    case = [(f["path"], f["message"].split(": ", 1)[1]) for f in findings if f["rule"] == "case-collision"]
    assert code == 1 and case == [
        (
            "ledger/GONE.yaml",
            "HEAD holds ledger/gone.yaml, which differs only in case: a case-insensitive file system "
            "(macOS, Windows) checks both out as one file",
        )
    ], findings


def test_other_files_in_two_cases_are_no_finding(repo: Path) -> None:
    """Two spellings of a file sealer does not manage, and a file in `Certs/` no cluster pins
    (`cert-file-content` judges it): no case-collision."""
    on_main(repo, {"docs/README.md": "read me\n"})
    write(repo, "docs/Readme.md", "read me too\n")
    write(repo, "Deploy-notes/x.md", "notes\n")
    commit_all(repo, "docs")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 0 and findings == [], findings
