"""sealer.yaml's schema: every problem is one `invalid config: sealer.yaml: <where>: <what>` line."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import token_vectors
from support.env_repos import invoke, run_main, snapshot
from support.git import commit_all, git
from support.git import init_repo as make_repo

from sealer import config, yamlio
from sealer.apikey import ENV_TAG
from sealer.errors import BadInput, ConfigError
from sealer.scope import Scope

FP_A, FP_B = "a" * 64, "0123456789abcdef" * 4


def _cluster(name: str, values: str, fp: str = FP_A) -> dict[str, str]:
    return {"name": name, "cert": f"certs/staging-{name}.pem", "fingerprint": fp, "valuesFile": values}


@pytest.fixture(scope="module")
def written_by_init(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `sealer init --env dev --env staging` writes, plus one pinned cluster for staging."""
    root = make_repo(tmp_path_factory.mktemp("baseline") / "repo")
    assert invoke(root, "init", "--env", "dev", "--env", "staging").exit_code == 0
    data: dict[str, Any] = yaml.safe_load((root / "sealer.yaml").read_text())
    data["environments"]["staging"]["clusters"] = [_cluster("eu", "deploy/staging/values.yaml")]
    return data


@pytest.fixture
def baseline(written_by_init: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(written_by_init)


def _parent(data: dict[str, Any], path: str) -> tuple[Any, Any]:
    """(container, key) of the dotted `path`; numbers index lists."""
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    node: Any = data
    for part in parents:
        node = node[part]
    return node, last


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation: set the dotted `path` to `value`."""

    def apply(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        node[key] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        del node[key]

    return apply


def _rename_env(new: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data["environments"][new] = data["environments"].pop("dev")

    return apply


def _replace(new: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data.clear()
        data["__replace__"] = new

    return apply


S = "environments.staging"
BACKENDS = "auth0, dynamodb, k8s-secrets, postgres, vault"
SAME_VALUES = [
    _cluster("eu", "deploy/staging/values.yaml"),
    _cluster("us", "deploy/staging/values.yaml", FP_B),
]
BAD = [
    # (mutation, where, what)
    (_set("version", 2), "version", "must be 1"),
    (_set("version", "1"), "version", "must be 1"),
    (_set("version", True), "version", "must be 1"),
    (_drop("version"), "version", "must be 1"),
    (_replace(["version", 1]), "", "must be a mapping"),  # the file as a whole
    (_drop("environments"), "environments", "must be a mapping of environments"),
    (_set("environments", ["dev", "staging"]), "environments", "must be a mapping of environments"),
    (_set("environments.staging", "staging"), S, "must be a mapping"),
    (_set("environments.staging", None), S, "must be a mapping"),
    (
        _rename_env("Dev"),
        "environments.Dev",
        "must be a name of 1-32 lowercase letters, digits and inner hyphens, got 'Dev'",
    ),
    (
        _rename_env("d" * 33),
        f"environments.{'d' * 33}",
        f"must be a name of 1-32 lowercase letters, digits and inner hyphens, got '{'d' * 33}'",
    ),
    (
        _set("environments.staging.namespace", "Staging_NS"),
        f"{S}.namespace",
        "must be a DNS label, got 'Staging_NS'",
    ),
    (_drop("environments.staging.namespace"), f"{S}.namespace", "must be a DNS label, got None"),
    (_set("environments.staging.namespace", 42), f"{S}.namespace", "must be a DNS label, got 42"),
    (
        _set("environments.staging.secretName", "engine/key"),
        f"{S}.secretName",
        "must be a DNS subdomain, got 'engine/key'",
    ),
    (
        _set("environments.staging.scope", "global"),
        f"{S}.scope",
        "must be strict, namespace-wide or cluster-wide",
    ),
    (
        _set("environments.staging.scope", ["strict"]),
        f"{S}.scope",
        "must be strict, namespace-wide or cluster-wide",
    ),
    (_set("environments.staging.backend", "vault"), f"{S}.backend", "must be a mapping"),
    (_set("environments.staging.backend.kind", "etcd"), f"{S}.backend.kind", f"must be one of {BACKENDS}"),
    (_set("environments.staging.backend.kind", ["vault"]), f"{S}.backend.kind", f"must be one of {BACKENDS}"),
    (_set("environments.staging.backend.options", ["a"]), f"{S}.backend.options", "must be a mapping"),
    (_set("environments.staging.keys", []), f"{S}.keys", "must list at least one entry, each once"),
    (
        _set("environments.staging.keys", ["apiKey", "apiKey"]),
        f"{S}.keys",
        "must list at least one entry, each once",
    ),
    (_set("environments.staging.keys", "apiKey"), f"{S}.keys", "must be a list of entry names"),
    (
        _set("environments.staging.keys", [{"name": "apiKey"}]),
        f"{S}.keys[0]",
        "must be an entry name, got {'name': 'apiKey'}",
    ),
    (
        _set("environments.staging.keys", ["apiKey", "api key"]),
        f"{S}.keys[1]",
        "must be an entry name, got 'api key'",
    ),
    (_set("environments.staging.clusters", "eu"), f"{S}.clusters", "must be a list"),
    (_set("environments.staging.clusters", ["eu"]), f"{S}.clusters[0]", "must be a mapping"),
    (
        _set("environments.staging.clusters.0.fingerprint", "abc"),
        f"{S}.clusters[0].fingerprint",
        "must be 64 hex digits, got 'abc'",
    ),
    (
        _set("environments.staging.clusters.0.fingerprint", "A" * 64),
        f"{S}.clusters[0].fingerprint",
        f"must be 64 hex digits, got '{'A' * 64}'",
    ),
    (
        _drop("environments.staging.clusters.0.fingerprint"),
        f"{S}.clusters[0].fingerprint",
        "must be 64 hex digits, got None",
    ),
    (
        _set("environments.staging.clusters.0.name", "EU"),
        f"{S}.clusters[0].name",
        "must be a DNS label, got 'EU'",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "/etc/values.yaml"),
        f"{S}.clusters[0].valuesFile",
        "must be a relative path inside the repo, got '/etc/values.yaml'",
    ),
    (
        _set("environments.staging.clusters.0.cert", "certs/../../eu.pem"),
        f"{S}.clusters[0].cert",
        "must be a relative path inside the repo, got 'certs/../../eu.pem'",
    ),
    (_set("environments.staging.clusters.0.cert", 7), f"{S}.clusters[0].cert", "must be a path"),
    (
        _set(
            "environments.staging.clusters",
            [_cluster("eu", "deploy/a.yaml"), _cluster("eu", "deploy/b.yaml")],
        ),
        f"{S}.clusters[1].name",
        "cluster 'eu' is listed twice",
    ),
    (
        _set("environments.staging.clusters", SAME_VALUES),
        f"{S}.clusters[1].valuesFile",
        f"deploy/staging/values.yaml is also rendered by {S}.clusters[0].valuesFile",
    ),
    (  # one file on a case-insensitive file system (macOS): each render replaces the other's key
        _set(
            "environments.staging.clusters",
            [
                _cluster("eu", "deploy/staging/values.yaml"),
                _cluster("us", "deploy/Staging/Values.yaml", FP_B),
            ],
        ),
        f"{S}.clusters[1].valuesFile",
        f"deploy/Staging/Values.yaml is also rendered by {S}.clusters[0].valuesFile",
    ),
    (
        _set("environments.dev.clusters", [_cluster("eu", "deploy/staging/values.yaml")]),
        f"{S}.clusters[0].valuesFile",
        "deploy/staging/values.yaml is also rendered by environments.dev.clusters[0].valuesFile",
    ),
    (_drop("environments.staging.valuesFile"), f"{S}.valuesFile", "must be a path"),
    (
        _set("environments.staging.valuesFile", "../values.yaml"),
        f"{S}.valuesFile",
        "must be a relative path inside the repo, got '../values.yaml'",
    ),
    (_set("environments.staging.rotationDays", 0), f"{S}.rotationDays", "must be at least 1"),
    (_set("environments.staging.rotationDays", -5), f"{S}.rotationDays", "must be at least 1"),
    (_set("environments.staging.rotationDays", "30"), f"{S}.rotationDays", "must be a whole number of days"),
    (_set("environments.staging.rotationDays", 7.5), f"{S}.rotationDays", "must be a whole number of days"),
    (_set("environments.staging.rotationDays", True), f"{S}.rotationDays", "must be a whole number of days"),
    # past the calendar, rotate and audit stopped on an OverflowError (a traceback, exit 3)
    (_set("environments.staging.rotationDays", 10**14), f"{S}.rotationDays", "must be at most 3650"),
    (_set("environments.staging.keyLifetimeDays", 3651), f"{S}.keyLifetimeDays", "must be at most 3650"),
    (_set("environments.staging.resealAfterDays", 10**20), f"{S}.resealAfterDays", "must be at most 3650"),
    (
        _set("environments.staging.keyLifetimeDays", 29),
        f"{S}.keyLifetimeDays",
        "must be at least rotationDays (30)",
    ),
    (
        _set("environments.staging.keyLifetimeDays", None),
        f"{S}.keyLifetimeDays",
        "must be a whole number of days",
    ),
    (
        _set("environments.staging.certHistory", ["not-a-fingerprint"]),
        f"{S}.certHistory[0]",
        "must be 64 hex digits, got 'not-a-fingerprint'",
    ),
    (_set("environments.staging.certHistory", FP_A), f"{S}.certHistory", "must be a list of fingerprints"),
    # a line break in a path would end a line of git's batch input (review reads `rev:path`)
    (
        _set("environments.staging.clusters.0.valuesFile", "deploy/a\nb.yaml"),
        f"{S}.clusters[0].valuesFile",
        "'deploy/a\\nb.yaml' holds a control character",
    ),
    (
        _set("environments.staging.clusters.0.cert", "certs/eu\x1b[2J.pem"),
        f"{S}.clusters[0].cert",
        "'certs/eu\\x1b[2J.pem' holds a control character",
    ),
    # #13: configured paths stay out of .git/ and off the files and folders sealer manages
    (
        _set("environments.staging.clusters.0.valuesFile", ".git/hooks/pre-commit"),
        f"{S}.clusters[0].valuesFile",
        "'.git/hooks/pre-commit' must stay outside .git/",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "sub/.GIT/config"),
        f"{S}.clusters[0].valuesFile",
        "'sub/.GIT/config' must stay outside .git/",
    ),
    (
        _set("environments.staging.valuesFile", "./sealer.yaml"),
        f"{S}.valuesFile",
        "'./sealer.yaml' is sealer's own ./sealer.yaml",
    ),
    # one spelling per path: a rotation committed `./deploy/…` as a tree entry of that name (a
    # file git cannot check out; the real one stayed stale), `deploy//…` stopped git fast-import
    (
        _set("environments.staging.clusters.0.valuesFile", "./deploy/staging/values.yaml"),
        f"{S}.clusters[0].valuesFile",
        "must be written 'deploy/staging/values.yaml', got './deploy/staging/values.yaml'",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "deploy//staging/values.yaml/"),
        f"{S}.clusters[0].valuesFile",
        "must be written 'deploy/staging/values.yaml', got 'deploy//staging/values.yaml/'",
    ),
    (
        _set("environments.staging.clusters.0.cert", "certs/./staging-eu.pem"),
        f"{S}.clusters[0].cert",
        "must be written 'certs/staging-eu.pem', got 'certs/./staging-eu.pem'",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "ledger/staging.yaml"),
        f"{S}.clusters[0].valuesFile",
        "'ledger/staging.yaml' lies in ledger/, which sealer manages",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "registry/staging/eu.yaml"),
        f"{S}.clusters[0].valuesFile",
        "'registry/staging/eu.yaml' lies in registry/, which sealer manages",
    ),
    (
        _set("environments.staging.clusters.0.cert", "sealed/staging/eu.yaml"),
        f"{S}.clusters[0].cert",
        "'sealed/staging/eu.yaml' lies in sealed/, which sealer manages",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "certs/staging-eu.pem"),
        f"{S}.clusters[0].valuesFile",
        f"certs/staging-eu.pem is also {S}.clusters[0].cert",
    ),
    (
        _set("environments.staging.clusters.0.valuesFile", "deploy/staging/values.yaml/eu.yaml"),
        f"{S}.clusters[0].valuesFile",
        f"lies inside {S}.valuesFile, a file",
    ),
    # A setting sealer does not read, at every level it reads: a typo would leave it off unseen.
    (
        _set("requireSinged", True),
        "requireSinged",
        "unknown setting (known: version, environments, pullRequests)",
    ),
    (_set("enviroments", {}), "enviroments", "unknown setting (did you mean 'environments'?)"),
    (
        _set(f"{S}.rotationDay", 30),
        f"{S}.rotationDay",
        "unknown setting (did you mean 'rotationDays'?)",
    ),
    (
        _set(f"{S}.backend", {"kind": "vault", "opitons": {}}),
        f"{S}.backend.opitons",
        "unknown setting (did you mean 'options'?)",
    ),
    (
        _set(f"{S}.backend", {"kind": "vault", "options": {"mout": "kv"}}),
        f"{S}.backend.options.mout",
        "unknown setting (did you mean 'mount'?)",
    ),
    (
        _set(f"{S}.backend", {"kind": "k8s-secrets", "options": {"registry_namspace": "x"}}),
        f"{S}.backend.options.registry_namspace",
        "unknown setting (did you mean 'registry_namespace'?)",
    ),
    (  # sealer fills it from the environment's name: given here, it was replaced or unused
        _set(f"{S}.backend", {"kind": "k8s-secrets", "options": {"registry_env": "production"}}),
        f"{S}.backend.options.registry_env",
        "sealer sets it from the environment's name: leave it out",
    ),
    (
        _set(f"{S}.clusters.0.sealwith", FP_A),
        f"{S}.clusters[0].sealwith",
        "unknown setting (did you mean 'sealWith'?)",
    ),
    (
        _set(
            f"{S}.clusters.0",
            {
                "name": "eu",
                "valuesFile": "deploy/staging/values.yaml",
                "sealWith": FP_A,
                "certs": [{"cert": "certs/a.pem", "fingerprint": FP_A, "addded": "2026-01-01"}],
            },
        ),
        f"{S}.clusters[0].certs[0].addded",
        "unknown setting (did you mean 'added'?)",
    ),
    (
        lambda data: data["environments"]["staging"].update({"hvs." + "CAESIJ" * 6: 1}),
        f"{S}.<a Vault token>",
        "unknown setting (known: namespace, secretName, keys, scope, clusters, valuesFile, backend, "
        "rotationDays, keyLifetimeDays, certHistory, policy, resealAfterDays, clusterContexts)",
    ),
]


def test_a_name_given_as_a_number_and_as_text_is_refused(tmp_path: Path, baseline: dict[str, Any]) -> None:
    """`123:` is the environment 123 (`sealer init --env 123` writes it so), but beside `'123':`
    it is that name twice: keeping the last would drop the one a reviewer reads first."""
    envs = baseline["environments"]
    envs[123], envs["123"] = envs.pop("dev"), envs.pop("staging")
    _write(tmp_path, baseline)
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    assert str(caught.value) == (
        "invalid config: sealer.yaml: environments.123: is given twice (once as a number)"
    )
    del baseline["environments"]["123"]
    _write(tmp_path, baseline)
    assert "123" in config.load(tmp_path).environments


class _Special(ConfigError):
    """A ConfigError of its own kind, with an attribute of its own."""

    def __init__(self, where: str, what: str, hint: str) -> None:
        super().__init__(where, what)
        self.hint = hint


def test_the_file_named_on_a_config_error_keeps_its_type(
    tmp_path: Path, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.parse names sealer.yaml on what _parse raised by building a plain ConfigError:
    a caller catching the subclass (or reading its attributes) missed it."""
    raised = _Special("environments.dev", "is odd", "look again")

    def refuse(data: Any, root: Path) -> config.Config:
        raise raised

    monkeypatch.setattr(config, "_parse", refuse)
    _write(tmp_path, baseline)
    with pytest.raises(_Special) as caught:
        config.load(tmp_path)
    assert str(caught.value) == "invalid config: sealer.yaml: environments.dev: is odd"
    assert (caught.value.file, caught.value.hint) == ("sealer.yaml", "look again")
    assert (str(raised), raised.file) == ("invalid config: environments.dev: is odd", "")  # left as it was
    assert caught.value.in_file("other.yaml") is caught.value  # a file already named stays


def _renamed(baseline: dict[str, Any], spelling: str) -> str:
    """sealer.yaml with `dev` written as `spelling` (as a hand edit would)."""
    text = yaml.safe_dump(baseline, sort_keys=False)
    assert text.count("\n  dev:\n") == 1
    return text.replace("\n  dev:\n", f"\n  {spelling}:\n")


@pytest.mark.parametrize(
    ("spelling", "reading"),
    [
        ("0x1", "the integer 1"),
        ("010", "the integer 8"),
        ("1_000", "the integer 1000"),
        ("+1", "the integer 1"),
        ("-0", "the integer 0"),
        ("1:30", "the integer 90"),
        ("0o7", "a number in YAML 1.2 (as sealer edits files)"),
        ("1e3", "a number in YAML 1.2 (as sealer edits files)"),
        # ruamel's YAML 1.2 takes a sign or `_` where PyYAML reads text: `+0o7` became `0o7:`
        # once an edit wrote the file back, and `-_` stopped every edit with a traceback
        ("+0o7", "a number in YAML 1.2 (as sealer edits files)"),
        ("0o1_0", "a number in YAML 1.2 (as sealer edits files)"),
        ("1_0e3", "a number in YAML 1.2 (as sealer edits files)"),
        ("-_", "a number in YAML 1.2 (as sealer edits files)"),
        ("1.5", "the float 1.5"),
        ("yes", "true"),
        ("on", "true"),
        ("~", "null"),
        ("null", "null"),
        ("2024-01-01", "the date 2024-01-01"),
    ],
)
def test_a_name_yaml_reads_as_another_type_is_refused(
    tmp_path: Path, baseline: dict[str, Any], capsys: Any, spelling: str, reading: str
) -> None:
    """`0x1:` was the environment 1, `010:` the environment 8: renamed silently."""
    make_repo(tmp_path)
    (tmp_path / "sealer.yaml").write_text(_renamed(baseline, spelling))
    code, out, err = run_main(tmp_path, capsys, "audit")
    assert (code, out) == (2, "")
    assert err == (
        f"sealer: invalid config: sealer.yaml: environments.{spelling}: "
        f"YAML reads {spelling!r} as {reading}, not as a name: quote it ('{spelling}':)\n"
    )
    (tmp_path / "sealer.yaml").write_text(_renamed(baseline, f"'{spelling}'"))
    if re.fullmatch(ENV_TAG, spelling):  # quoted, it is that very text
        assert spelling in config.load(tmp_path).environments
        return
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    assert caught.value.where == f"environments.{spelling}"


def test_sealer_yaml_is_parsed_once(
    tmp_path: Path, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command loads sealer.yaml: its keys are checked on the nodes the load built, not on
    a second parse (which took a 100-environment file from 13 ms to 27)."""
    _write(tmp_path, baseline)
    parses: list[str] = []
    real = yamlio.check_limits
    monkeypatch.setattr(
        yamlio, "check_limits", lambda events, source: parses.append(source) or real(events, source)
    )
    config.load(tmp_path)
    assert len(parses) == 1, parses


def test_a_valid_sealer_yaml_loads_without_difflib(
    tmp_path: Path, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """difflib only hints at an unknown setting's nearest name: importing it on every load cost
    a rotation 1.7 ms. None in sys.modules makes `import difflib` raise."""
    _write(tmp_path, baseline)
    monkeypatch.setitem(sys.modules, "difflib", None)
    config.load(tmp_path)


EMPTY_DOCUMENTS = ["~\n---\n{}", "--- null\n---\n{}", "---\n# nothing\n---\n{}", "---\n---\n{}", "{}---\n"]


@pytest.mark.parametrize("layout", EMPTY_DOCUMENTS)
def test_an_empty_or_null_document_beside_the_settings_is_refused(
    tmp_path: Path, baseline: dict[str, Any], layout: str
) -> None:
    """An empty or null document is a document: sealer read the one non-empty one (and checked
    its keys), where ruamel, which edits the file, refused it and another reader may take the
    null one. Refused as a second document is, before any key is read."""
    (tmp_path / "sealer.yaml").write_text(layout.format(_renamed(baseline, "0x1")))
    line = f"^{re.escape(str(tmp_path))}/sealer.yaml: {yamlio.SEVERAL_DOCUMENTS}$"
    with pytest.raises(BadInput, match=line):
        config.load(tmp_path)


@pytest.mark.parametrize("layout", EMPTY_DOCUMENTS)
def test_reading_and_editing_refuse_an_empty_document_in_one_line(
    repo: Path, controllers: Any, layout: str
) -> None:
    """`sealer check` and an edit (`cert add`) say the same of the same file: exit 2, one line."""
    path = repo / "sealer.yaml"
    path.write_text(layout.format(path.read_text()))
    before = path.read_bytes()
    line = f"sealer: {path}: {yamlio.SEVERAL_DOCUMENTS}\n"
    for args in (["check"], ["cert", "add", "staging", "--file", str(controllers["staging"].cert)]):
        result = invoke(repo, *args)
        assert (result.exit_code, result.stderr) == (2, line), args
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("where", "spelling"),
    [
        ("staging.clusterContexts", "0x1"),
        ("staging.backend.options", "yes"),
        ("staging.policy", "010"),
        ("staging.clusters[0]", "~"),
    ],
)
def test_any_key_yaml_reads_as_another_type_is_refused(
    tmp_path: Path, baseline: dict[str, Any], where: str, spelling: str
) -> None:
    """Every key of sealer.yaml is a name (a setting's, a cluster's, a rule's): none is renamed."""
    staging = baseline["environments"]["staging"]
    placeholders = {"clusterContexts": "xa", "backend.options": "xb", "policy": "xc", "clusters[0]": "xd"}
    staging.update(clusterContexts={"xa": "c"}, backend={"kind": "k8s-secrets", "options": {"xb": "y"}})
    staging.update(policy={"xc": {}})
    staging["clusters"][0]["xd"] = "v"
    placeholder = placeholders[where.split(".", 1)[1]]
    text = yaml.safe_dump(baseline, sort_keys=False).replace(f" {placeholder}:", f" {spelling}:")
    (tmp_path / "sealer.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    assert caught.value.where == f"environments.{where}.{spelling}"


def test_a_decimal_name_keeps_working_through_edits(repo: Path, controllers: Any) -> None:
    """`123:` is the environment 123 (repositories use it): read, and edited by `cert add`, where
    ruamel keeps it as the key 123."""
    text = (repo / "sealer.yaml").read_text().replace("\n  staging:\n", "\n  123:\n")
    (repo / "sealer.yaml").write_text(text)
    result = invoke(repo, "cert", "add", "123", "--file", str(controllers["staging"].cert))
    assert result.exit_code == 0, result.stderr
    assert "\n  123:\n" in (repo / "sealer.yaml").read_text()
    assert config.load(repo).env("123").clusters[0].fingerprint == controllers["staging"].fingerprint


@pytest.mark.parametrize("directive", ["%YAML 1.1", "%YAML 1.2", "%TAG !e! tag:yaml.org,2002:"])
def test_a_yaml_directive_is_refused_by_check_and_by_an_edit_alike(
    repo: Path, controllers: Any, directive: str
) -> None:
    """Under `%YAML 1.1` ruamel, which edits the file, reads `y:` as true while PyYAML read the
    name y: `check` took the environment y, `cert add y` refused it (and stopped with a traceback
    before that). A directive is refused by both, in one line, before anything is read."""
    text = (repo / "sealer.yaml").read_text().replace("\n  staging:\n", "\n  y:\n")
    (repo / "sealer.yaml").write_text(f"{directive}\n---\n{text}")
    shown = directive if directive.startswith("%YAML") else "%TAG"
    line = f"sealer: {repo / 'sealer.yaml'}: a {shown} directive is not accepted"
    for args in (["check"], ["cert", "add", "y", "--file", str(controllers["staging"].cert)]):
        result = invoke(repo, *args)
        assert result.exit_code == 2 and result.stderr.startswith(line), (args, result.stderr)
        assert result.stderr.count("\n") == 1


REWRITTEN = "sealer's editor (YAML 1.2) would write it back otherwise: quote it"


def test_an_edit_never_rewrites_what_ruamel_reads_as_a_number(repo: Path, controllers: Any) -> None:
    """`1_0e3` is the entry 1_0e3 to PyYAML and the float 10000.0 to ruamel, which wrote it back
    as `100e2`: `cert add` renamed the entry the chart reads. Refused before anything changes."""
    text = (repo / "sealer.yaml").read_text().replace("keys: [apiKey]", "keys: [apiKey, 1_0e3]")
    (repo / "sealer.yaml").write_text(text)
    assert config.load(repo).env("staging").keys == ("apiKey", "1_0e3")
    result = invoke(repo, "cert", "add", "staging", "--file", str(controllers["staging"].cert))
    assert (result.exit_code, result.stderr) == (
        2,
        f"sealer: invalid config: sealer.yaml: environments.dev.keys[1]: {REWRITTEN}\n",
    )
    assert (repo / "sealer.yaml").read_text() == text


@pytest.mark.parametrize("name", ["010", "0o7", "1e3", "yes", "n", "123", "0x1f", "2024-01-01"])
def test_init_quotes_a_name_yaml_would_read_as_another_type(tmp_path: Path, name: str) -> None:
    root = make_repo(tmp_path / "repo")
    result = invoke(root, "init", "--env", name)
    assert result.exit_code == 0, result.stderr
    assert list(config.load(root).environments) == [name]
    assert yamlio.round_trip_load((root / "sealer.yaml").read_text(), "t")["environments"][name]


@pytest.mark.parametrize(
    ("path", "value", "shape"),
    [
        ("environments.staging.secretName", "hvs." + "CAESIJ" * 6, "a Vault token"),
        ("environments.staging.namespace", "AKIA" + "ABCDEFGHIJKLMNOP", "an AWS access key id"),
        ("environments.staging.valuesFile", "postgres://app:s3cret-pw@db/keys", "a URL with a password"),
        (
            "environments.staging.clusters.0.valuesFile",
            "x/../postgres://app:s3cret-pw@db",
            "a URL with a password",
        ),
    ],
)
def test_a_credential_pasted_into_the_wrong_setting_is_never_echoed(
    tmp_path: Path,
    baseline: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    path: str,
    value: str,
    shape: str,
) -> None:
    """The one line of a refused setting lands in CI logs: a token pasted where a name or a path
    belongs is named by its shape, as one pasted among the store's settings is."""
    _set(path, value)(baseline)
    _write(tmp_path, baseline)
    code, out, err = run_main(tmp_path, capsys, "check")
    assert code == 2 and f"got a value that looks like {shape} (not shown)" in err, err
    assert value not in err and "s3cret" not in err and "CAESIJ" not in err


def test_a_credential_pasted_as_an_environment_name_is_never_echoed(
    tmp_path: Path, baseline: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The name is where the line says the error is, too: named there by its shape as well."""
    token = "hvs." + "CAESIJ" * 6
    baseline["environments"][token] = baseline["environments"].pop("staging")
    _write(tmp_path, baseline)
    code, _, err = run_main(tmp_path, capsys, "check")
    assert code == 2 and "environments.<a Vault token>: must be a name" in err, err
    assert "CAESIJ" not in err and "got a value that looks like a Vault token (not shown)" in err


PASTED = [f for f in token_vectors.families() if not any(c.isspace() for c in token_vectors.vector(f, 1))]


@pytest.mark.parametrize("family", PASTED, ids=[f.id for f in PASTED])
def test_a_credential_sealer_scan_knows_pasted_as_a_setting_is_never_echoed(
    tmp_path: Path, baseline: dict[str, Any], capsys: pytest.CaptureFixture[str], family: Any
) -> None:
    """`unknown setting` names the key, and the line lands in CI logs: a GitHub, Slack, npm…
    token pasted as one is hidden by the kind `sealer scan` knows it as, not only the shapes
    sealer's own settings check (`secret_shape`: Vault, AWS, JWT, PEM, URL password)."""
    token = token_vectors.vector(family, 1)
    baseline["environments"]["staging"][token] = "x"
    _write(tmp_path, baseline)
    code, _, err = run_main(tmp_path, capsys, "check")
    assert code == 2 and err.count("\n") == 1 and "unknown setting" in err, err
    assert token not in err, err
    kinds = [f"<{rule}: not shown>" for rule in family.rules] + ["_[redacted]", "environments.staging.<a"]
    assert any(kind in err for kind in kinds), err


def _write(root: Path, data: dict[str, Any]) -> None:
    payload = data.get("__replace__", data)
    (root / "sealer.yaml").write_text(yaml.safe_dump(payload, sort_keys=False))


@pytest.mark.parametrize("mutate, where, what", BAD, ids=[f"{w}:{m[:30]}" for _, w, m in BAD])
def test_schema_violation_is_one_line(
    tmp_path: Path,
    baseline: dict[str, Any],
    mutate: Callable[[Any], None],
    where: str,
    what: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mutate(baseline)
    _write(tmp_path, baseline)
    before = snapshot(tmp_path)

    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    line = f"invalid config: sealer.yaml: {where + ': ' if where else ''}{what}"
    assert str(caught.value) == line  # the file named, then the key path
    assert (caught.value.file, caught.value.where, caught.value.what) == ("sealer.yaml", where, what)

    code, out, err = run_main(tmp_path, capsys, "render", "staging")
    assert (code, out, err) == (2, "", f"sealer: {line}\n")
    assert snapshot(tmp_path) == before


def test_baseline_is_valid(tmp_path: Path, baseline: dict[str, Any]) -> None:
    _write(tmp_path, baseline)

    cfg = config.load(tmp_path)

    (eu,) = cfg.env("staging").clusters
    assert (eu.name, eu.cert, eu.fingerprint, eu.values_file) == (
        "eu",
        "certs/staging-eu.pem",
        FP_A,
        "deploy/staging/values.yaml",
    )


def test_optional_fields_take_defaults(tmp_path: Path) -> None:
    minimal = {
        "version": 1,
        "environments": {
            "qa": {"namespace": "qa", "secretName": "engine-api-key", "valuesFile": "deploy/qa/values.yaml"}
        },
    }
    _write(tmp_path, minimal)

    env = config.load(tmp_path).env("qa")

    assert (env.keys, env.scope, env.clusters, env.backend_kind, env.cert_history) == (
        ("apiKey",),
        Scope.STRICT,
        (),
        "k8s-secrets",
        (),
    )
    assert (env.rotation_days, env.key_lifetime_days) == (90, 104)


@pytest.mark.parametrize("rotation, lifetime", [(1, 1), (30, 30), (365, 400)])
def test_day_boundaries_accepted(
    tmp_path: Path, baseline: dict[str, Any], rotation: int, lifetime: int
) -> None:
    baseline["environments"]["staging"].update(rotationDays=rotation, keyLifetimeDays=lifetime)
    _write(tmp_path, baseline)

    env = config.load(tmp_path).env("staging")

    assert (env.rotation_days, env.key_lifetime_days) == (rotation, lifetime)


def test_backend_options_and_scopes(tmp_path: Path, baseline: dict[str, Any]) -> None:
    staging = baseline["environments"]["staging"]
    staging["backend"] = {"kind": "vault", "options": {"mount": "secret", "path": 8200}}
    staging["scope"] = "cluster-wide"
    _write(tmp_path, baseline)

    env = config.load(tmp_path).env("staging")

    assert (env.backend_kind, env.backend_options, env.scope) == (
        "vault",
        {"mount": "secret", "path": "8200"},
        Scope.CLUSTER_WIDE,
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nenvironments: [unclosed\n", "sealer.yaml: not valid YAML at line 3"),
        ("", "invalid config: sealer.yaml: must be a mapping"),
        ("just text\n", "invalid config: sealer.yaml: must be a mapping"),
        (  # a reviewer sees the first backend, a plain parser would use the second
            "version: 1\nenvironments:\n  prod:\n"
            "    backend: {kind: vault}\n    backend: {kind: k8s-secrets}\n",
            "sealer.yaml: key 'backend' appears twice in one mapping (line 5)",
        ),
    ],
)
def test_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "sealer.yaml").write_text(text)

    code, _, err = run_main(tmp_path, capsys, "cert", "status")

    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sealer: ") and message in err


def test_a_second_yaml_document_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], baseline: dict[str, Any]
) -> None:
    """sealer read the first document alone: a second one, after a `---`, held settings that
    nothing sealer checks (nor `review`) ever saw, which another reader of the file may take."""
    _write(tmp_path, baseline)
    with (tmp_path / "sealer.yaml").open("a") as handle:
        handle.write("---\nversion: 1\nenvironments: {}\n")

    code, _, err = run_main(tmp_path, capsys, "cert", "status")

    assert code == 2
    assert err.count("\n") == 1 and "sealer.yaml: holds several YAML documents; expected one" in err


def test_unknown_environment(tmp_path: Path, baseline: dict[str, Any]) -> None:
    _write(tmp_path, baseline)

    with pytest.raises(BadInput, match=r"^unknown environment 'prod' \(known: dev, staging\)$"):
        config.load(tmp_path).env("prod")


def test_found_from_a_subfolder(tmp_path: Path, baseline: dict[str, Any]) -> None:
    _write(tmp_path, baseline)
    below = tmp_path / "deploy" / "staging"
    below.mkdir(parents=True)

    assert config.find_root(below) == tmp_path.resolve()
    with pytest.raises(BadInput, match="run `sealer init` first"):
        config.find_root(tmp_path.parent)


@pytest.mark.parametrize(
    ("how", "fix"),
    [
        ("deleted", "git checkout -- sealer.yaml"),
        ("by-hand", "git update-index --no-skip-worktree -- sealer.yaml && git checkout -- sealer.yaml"),
        ("sparse", "git sparse-checkout disable"),
        # assume-unchanged too (core.ignoreStat, or by hand): `git ls-files -v` says `s`, not `S`
        (
            "by-hand-assumed",
            "git update-index --no-skip-worktree -- sealer.yaml && git checkout -- sealer.yaml",
        ),
        ("sparse-assumed", "git sparse-checkout disable"),
    ],
)
def test_a_sealer_yaml_git_holds_and_the_disk_lacks_is_brought_back(
    tmp_path: Path, how: str, fix: str
) -> None:
    """Not `sealer init` (which would start over): the line names what brings Git's copy back,
    and that command, run as written, does."""
    root = make_repo(tmp_path / "repo")
    (root / "sealer.yaml").write_text("version: 1\n")
    commit_all(root, "sealer.yaml")
    if how.startswith("sparse"):
        git(root, "sparse-checkout", "set", "--no-cone", "/*", "!/sealer.yaml")
    elif how.startswith("by-hand"):
        git(root, "update-index", "--skip-worktree", "--", "sealer.yaml")
    if how.endswith("-assumed"):
        git(root, "update-index", "--assume-unchanged", "--", "sealer.yaml")
    (root / "sealer.yaml").unlink(missing_ok=True)
    with pytest.raises(BadInput) as refused:
        config.find_root(root)
    assert str(refused.value) == (
        f"no sealer.yaml on disk in {root.resolve()}, though Git holds it (deleted, or outside a sparse "
        f"checkout): `{fix}`"
    )
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert config.find_root(root) == root.resolve()


@pytest.mark.parametrize("how", ["deleted", "by-hand"])
def test_a_sealer_yaml_git_holds_is_brought_back_from_a_sub_folder(tmp_path: Path, how: str) -> None:
    """sealer runs from any folder below the top, and the line's command where it ran: there it
    names the file upward, where `sealer.yaml` matched nothing Git holds (`git update-index` takes
    no `:/` for the top)."""
    root = make_repo(tmp_path / "repo")
    (root / "sealer.yaml").write_text("version: 1\n")
    (root / "deploy/dev").mkdir(parents=True)
    (root / "deploy/dev/values.yaml").write_text("a: 1\n")
    commit_all(root, "sealer.yaml")
    if how == "by-hand":
        git(root, "update-index", "--skip-worktree", "--", "sealer.yaml")
    (root / "sealer.yaml").unlink()
    below = root / "deploy/dev"
    with pytest.raises(BadInput) as refused:
        config.find_root(below)
    fix = str(refused.value).rpartition(": `")[2].removesuffix("`")
    assert fix.endswith("git checkout -- ../../sealer.yaml"), fix
    subprocess.run(fix, shell=True, cwd=below, check=True, capture_output=True)
    assert config.find_root(below) == root.resolve()


@pytest.mark.parametrize(
    ("ours", "fix"),
    [("version: 3\n", "git checkout --merge -- sealer.yaml"), (None, "git checkout --theirs -- sealer.yaml")],
    ids=["both-changed", "deleted-here"],
)
def test_a_conflicted_sealer_yaml_the_disk_lacks_is_brought_back(
    tmp_path: Path, ours: str | None, fix: str
) -> None:
    """Deleted amid a merge's conflict: `git checkout --` refuses a path Git holds unmerged, so
    the line names the side(s) Git holds it from, and that command, run as written, brings it back."""
    root = make_repo(tmp_path / "repo")
    (root / "sealer.yaml").write_text("version: 1\n")
    commit_all(root, "sealer.yaml")
    git(root, "checkout", "-q", "-b", "theirs")
    (root / "sealer.yaml").write_text("version: 2\n")
    commit_all(root, "theirs")
    git(root, "checkout", "-q", "-")
    if ours is None:
        git(root, "rm", "-q", "--", "sealer.yaml")
    else:
        (root / "sealer.yaml").write_text(ours)
    commit_all(root, "ours")
    git(root, "merge", "-q", "theirs", check=False)
    (root / "sealer.yaml").unlink()
    with pytest.raises(BadInput) as refused:
        config.find_root(root)
    assert str(refused.value).endswith(f": `{fix}`")
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert config.find_root(root) == root.resolve()


def test_an_edit_keeps_a_comment_after_the_document_end(tmp_path: Path) -> None:
    """A comment after `...` is the user's like any other: an edit (`cert add`, `backend set`)
    kept none."""
    root = make_repo(tmp_path / "repo")
    invoke(root, "init", "--env", "qa")
    path = root / "sealer.yaml"
    path.write_text(path.read_text() + "...\n# owned by #team-platform\n")
    with config.edit(root) as doc:
        doc["environments"]["qa"]["rotationDays"] = 45
    text = path.read_text()
    assert text.endswith("\n...\n# owned by #team-platform\n") and "    rotationDays: 45\n" in text
    assert config.load(root).env("qa").rotation_days == 45


@pytest.mark.parametrize(
    "end",
    ["...\n...\n", "...\n# owned by #team-platform\n\n... # twice\n"],
    ids=["two-ends", "two-ends-comments"],
)
def test_an_edit_keeps_every_document_end_line(tmp_path: Path, end: str) -> None:
    """ruamel read the first `...` as the document's end and dropped it: two became one."""
    root = make_repo(tmp_path / "repo")
    invoke(root, "init", "--env", "qa")
    path = root / "sealer.yaml"
    path.write_text(path.read_text() + end)
    with config.edit(root) as doc:
        doc["environments"]["qa"]["rotationDays"] = 45
    text = path.read_text()
    assert text.endswith(f"\n{end}") and "    rotationDays: 45\n" in text
    assert config.load(root).env("qa").rotation_days == 45


def test_edit_keeps_comments_and_refuses_an_invalid_result(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    invoke(root, "init", "--env", "qa")
    path = root / "sealer.yaml"
    path.write_text(path.read_text().replace("  qa:\n", "  qa:  # the QA cluster, ask #team-qa\n"))
    before = path.read_bytes()

    with pytest.raises(
        ConfigError, match=r"^invalid config: sealer.yaml: environments.qa.rotationDays: must be at least 1$"
    ):
        with config.edit(root) as doc:
            doc["environments"]["qa"]["rotationDays"] = 0
    assert path.read_bytes() == before

    with config.edit(root) as doc:
        doc["environments"]["qa"]["rotationDays"] = 45
    text = path.read_text()
    assert "  qa:  # the QA cluster, ask #team-qa\n" in text and "    rotationDays: 45\n" in text
    comments = [line for line in before.decode().splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert yamlio.load_documents(text, "x")[0]["environments"]["qa"]["rotationDays"] == 45


@pytest.mark.parametrize(
    "inside", ["kc.yaml", "./deploy/../kc.yaml", "{root}/kc.yaml", "{root}/link/kc.yaml"]
)
def test_a_kubeconfig_the_repository_names_or_holds_is_refused(
    tmp_path: Path, baseline: dict[str, Any], capsys: pytest.CaptureFixture[str], inside: str
) -> None:
    """Loading a kubeconfig can run its `exec:` command: never one a pull request can write."""
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(root)  # an absolute path that only seems to leave the repository
    options = {"delivery": "direct", "kubeconfig": inside.format(root=root)}
    baseline["environments"]["staging"]["backend"] = {"kind": "k8s-secrets", "options": options}
    _write(root, baseline)
    with pytest.raises(ConfigError, match=r"kubeconfig: must be an absolute path outside the repository"):
        config.load(root)
    options["kubeconfig"] = str(tmp_path / "elsewhere" / "kc.yaml")
    _write(root, baseline)
    assert config.load(root).env("staging").registry.kubeconfig == options["kubeconfig"]  # type: ignore[union-attr]
