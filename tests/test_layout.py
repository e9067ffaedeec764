"""Repository paths: each spelled once in sealer.layout, and read back from a path the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer import layout


def test_paths_of_an_environment() -> None:
    assert layout.ledger_path(Path("/r"), "prod") == Path("/r/ledger/prod.yaml")
    assert layout.sealed_path(Path("/r"), "prod", "eu") == Path("/r/sealed/prod/eu.yaml")
    assert layout.config_path(Path("/r")) == Path("/r/sealer.yaml")
    assert layout.out_path(Path("/r")) == Path("/r/.sealer/out")
    assert (
        layout.cert_file("prod", "prod") == "certs/prod.pem"
        and layout.cert_file("prod", "eu") == "certs/prod-eu.pem"
    )
    assert layout.values_file("prod", "eu") == "deploy/prod/values-eu.yaml"


@pytest.mark.parametrize(
    ("rel", "env"),
    [
        ("ledger/prod.yaml", "prod"),
        ("ledger/a/b.yaml", None),
        ("ledger/prod.yml", None),
        ("sealed/prod.yaml", None),
    ],
)
def test_ledger_env(rel: str, env: str | None) -> None:
    assert layout.ledger_env(rel) == env
    if env:
        assert layout.ledger_file(env) == rel


@pytest.mark.parametrize(
    ("rel", "cluster"),
    [
        ("sealed/prod/eu.yaml", "eu"),
        ("sealed/prod/a/eu.yaml", None),
        ("sealed/dev/eu.yaml", None),
        ("ledger/prod.yaml", None),
    ],
)
def test_sealed_cluster(rel: str, cluster: str | None) -> None:
    assert layout.sealed_cluster("prod", rel) == cluster
    if cluster:
        assert layout.sealed_file("prod", cluster) == rel


@pytest.mark.parametrize(
    ("rel", "below"),
    [
        ("certs/prod.pem", True),
        ("Certs/prod.pem", True),  # a case-insensitive file system's certs/
        ("CERTS/a/b.pem", True),
        ("cert\u017f/prod.pem", True),  # long s: Unicode folds it to s (folding wide errs to checking)
        ("cert\u200cs/prod.pem", True),  # HFS+ ignores a zero-width non-joiner in a name (as git's
        ("\ufeffCerts/prod.pem", True),  # core.protectHFS knows): that folder is certs/ there
        ("certs\u200d", False),
        ("certs", False),  # the folder itself (or what stands in its place) is not below it
        ("certsx/prod.pem", False),
        ("deploy/certs/prod.pem", False),
    ],
)
def test_in_certs_dir(rel: str, below: bool) -> None:
    assert layout.in_certs_dir(rel) is below


SPELLINGS = layout.Spellings(["deploy/prod/values.yaml", "certs/prod.pem", *layout.env_paths("prod", ["eu"])])


@pytest.mark.parametrize(
    ("rel", "variant", "holds"),
    [
        ("sealer.yaml", None, True),
        ("SEALER.yaml", "sealer.yaml", False),
        ("ledger/prod.yaml", None, True),
        ("ledger/Prod.yaml", "ledger/prod.yaml", True),  # in ledger/, yet another spelling of a ledger
        ("Ledger/old.yaml", "ledger/", False),
        ("ledger/old.yaml", None, True),  # no environment's, yet in a folder sealer manages
        ("sealed/prod/EU.yaml", "sealed/prod/eu.yaml", True),
        ("sealed/Prod/x.yaml", "sealed/prod/", True),
        ("registry/prod/Eu.yaml", "registry/prod/eu.yaml", True),
        (".Sealer/approvers", ".sealer/", False),
        ("deploy/prod/Values.yaml", "deploy/prod/values.yaml", False),
        ("Deploy", "deploy", False),  # a file or link where the values file's folder is
        ("deploy", None, True),
        ("deploy/Prod/other.yaml", None, False),  # beside the values file: no file of sealer's replaced
        ("Certs/prod.pem", "certs/prod.pem", False),
        ("Certs/extra.pem", None, False),  # cert-file-content's, in any case
        ("led\u200cger/prod.yaml", "ledger/prod.yaml", False),  # HFS+ ignores the joiner
        ("se\u0301aled/x", None, False),  # another letter, in either Unicode form
        ("docs/README.md", None, False),
    ],
)
def test_spellings(rel: str, variant: str | None, holds: bool) -> None:
    assert (SPELLINGS.variant(rel), SPELLINGS.holds(rel)) == (variant, holds)


@pytest.mark.parametrize(
    ("name", "plain_file", "applied"),
    [
        ("eu.yaml", True, True),
        ("notes.yml", True, True),
        ("registry.json", True, True),
        ("EU.YAML", True, True),  # Argo CD on a case-insensitive checkout
        ("kustomization.yaml", True, True),  # may pull in anything
        ("Kustomization", True, True),
        ("kustomization", True, True),
        ("app.jsonnet", True, True),
        ("lib.libsonnet", True, True),
        (".gitkeep", True, False),
        ("README.md", True, False),
        (".DS_Store", True, False),
        ("eu.yaml.bak", True, False),
        ("README.md", False, True),  # a folder, symlink or submodule: may hold or point at anything
        (".gitkeep", False, True),
    ],
)
def test_may_be_applied(name: str, plain_file: bool, applied: bool) -> None:
    assert layout.may_be_applied(name, plain_file) is applied


def test_case_collisions() -> None:
    """An added path HEAD holds in another spelling, as a file or a folder, or below a file."""
    held = ["LEDGER/prod.yaml", "docs/README.md", "Deploy", "a/b.txt"]
    added = ["ledger/prod.yaml", "docs/readme.md", "deploy/prod/values.yaml", "A", "a/c.txt"]
    assert layout.case_collisions(added, held) == {
        "ledger/prod.yaml": ["LEDGER/prod.yaml"],
        "docs/readme.md": ["docs/README.md"],
        "deploy/prod/values.yaml": ["Deploy"],
        "A": ["a"],
    }


@pytest.mark.parametrize(
    ("held", "found"),
    [
        (["src/a.py", "src/b.py", "README.md", "docs/x/y.md"], {}),
        (["b/c", "b/C", "d"], {"b/C": ["b/c"], "b/c": ["b/C"]}),  # two files
        (["a/x", "A/y"], {}),  # two folders, no file over another (a managed one is a variant)
        (["ledger", "Ledger/x"], {"Ledger/x": ["ledger"], "ledger": ["Ledger"]}),  # a file and a folder
        (
            ["se\u0301aled/x", "s\u00e9aled/X"],
            {"se\u0301aled/x": ["s\u00e9aled/X"], "s\u00e9aled/X": ["se\u0301aled/x"]},
        ),
        (["\u00e9t\u00e9/x", "docs/y"], {}),
    ],
)
def test_case_collisions_among_what_git_holds(held: list[str], found: dict[str, list[str]]) -> None:
    """`sealer check`'s question (every path Git holds against the rest): the ASCII shortcut
    answers none only where the whole count agrees."""
    assert layout.case_collisions(held, held) == found


def test_deep_paths_fold_each_folder_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull request's files thousands of folders deep cost their length, not their depth times
    it: each folder is folded once, however many paths lie in it (minutes of a gate otherwise)."""
    folded_chars = 0
    fold = layout.folded

    def counted(rel: str) -> str:
        nonlocal folded_chars
        folded_chars += len(rel)
        return fold(rel)

    monkeypatch.setattr(layout, "folded", counted)
    deep = "/".join(["a"] * 1000)
    cost = {}
    for count in (50, 100):
        folded_chars = 0
        files = [f"{deep}/f{i}" for i in range(count)]
        spellings = layout.Spellings(files[:1])
        assert [spellings.variant(p) for p in files] == [None] * count
        assert [spellings.holds(p) for p in files] == [True] + [False] * (count - 1)
        assert layout.case_collisions([*files, f"{deep}/F1"], files) == {f"{deep}/F1": [f"{deep}/f1"]}
        cost[count] = folded_chars
    assert cost[100] - cost[50] < 10 * 50 * len(f"{deep}/f99")  # each more file: a few times its length
