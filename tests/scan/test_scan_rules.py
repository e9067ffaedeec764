"""The detector policy file: the built-in one loads, bad ones fail with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sealer.cli import cli
from sealer.errors import ConfigError
from sealer.scan import rules, scanner

TOKEN_RULE = """
  - id: acme-token
    kind: token
    keywords: ["acme_"]
    regex: '\\bacme_[0-9a-f]{24}\\b'
"""


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def test_builtin_policy_loads_and_names_every_kind() -> None:
    policy = rules.load()
    assert {r.kind for r in policy.rules} == set(rules.KINDS)
    assert policy.max_file_bytes > 0
    assert all(r.keywords for r in policy.rules if r.kind in ("token", "assignment"))


BAD = [
    ("version: 2\nrules: [{id: a, kind: sealed-value}]", "version: only version 1 is known"),
    ("version: 1", "top level: missing key 'rules'"),
    ("version: 1\ncolour: blue\nrules: [{id: a, kind: sealed-value}]", "top level: unknown key 'colour'"),
    ("version: 1\nrules: []", "rules: expected a non-empty list"),
    ("version: 1\nrules: [{id: a, kind: magic}]", "rules[0].kind: expected one of"),
    ("version: 1\nrules: [{id: A_b, kind: sealed-value}]", "rules[0].id: use lowercase"),
    ("version: 1\nrules: [{id: a, kind: sealed-value, regex: x}]", "rules[0]: unknown key 'regex'"),
    ("version: 1\nrules: [{id: a, kind: token, keywords: [x]}]", "rules[0]: missing key 'regex'"),
    (
        "version: 1\nrules: [{id: a, kind: token, keywords: [x], regex: '(x'}]",
        "rules[0] (a).regex: missing )",
    ),
    (
        "version: 1\nrules: [{id: a, kind: token, keywords: [x], regex: '(?P<v>x)'}]",
        "rules[0] (a).regex: the only named group allowed is 'secret'",
    ),
    (
        "version: 1\nrules: [{id: a, kind: assignment, keywords: [x], regex: x, entropy: 3}]",
        "rules[0] (a).regex: needs a named group 'secret'",
    ),
    (
        "version: 1\nrules: [{id: a, kind: assignment, keywords: [Key], regex: '(?P<secret>x)', entropy: 3}]",
        "rules[0] (a).keywords: assignment keywords must be lowercase",
    ),
    (
        "version: 1\nrules: [{id: a, kind: assignment, keywords: [k], regex: '(?P<secret>x)', entropy: 9}]",
        "rules[0] (a).entropy: expected a number from 0 to 8",
    ),
    (
        "version: 1\nrules: [{id: a, kind: token, keywords: [], regex: x}]",
        "rules[0] (a).keywords: expected at least one keyword",
    ),
    (
        "version: 1\nrules: [{id: a, kind: token, keywords: [x], regex: x, confirm: magic}]",
        "rules[0] (a).confirm: expected one of sealer-checksum, jwt-header",
    ),
    (
        "version: 1\nrules: [{id: a, kind: sealed-value, severity: fatal}]",
        "rules[0] (a).severity: expected one of error, warning, note",
    ),
    (
        "version: 1\nrules: [{id: a, kind: sealed-value, paths: '*.yaml'}]",
        "rules[0] (a).paths: expected a list of non-empty strings",
    ),
    (
        "version: 1\nrules: [{id: a, kind: sealed-value}, {id: a, kind: kubernetes-secret}]",
        "rules: id 'a' is used twice",
    ),
    (
        "version: 1\nmax_file_bytes: -1\nrules: [{id: a, kind: sealed-value}]",
        "max_file_bytes: expected a positive",
    ),
    ("version: 1\nignore_values: ['(']\nrules: [{id: a, kind: sealed-value}]", "ignore_values[0]: missing )"),
    ("version: 1\nallow_paths: x\nrules: [{id: a, kind: sealed-value}]", "allow_paths: expected a list"),
    ("- just\n- a list\n", "expected one YAML mapping"),
    ("version: 1\n---\nversion: 1\n", "expected one YAML mapping"),
    ("version: [1\n", "not valid YAML at line"),
    ("version: 1\nextends: other\nrules: []", "extends: only 'builtin' is known"),
    ("version: 1\nextends: builtin\nrules: [5]", "]: expected a mapping"),
    ("version: 1\nextends: builtin\nrules: {a: 1}", "rules: expected a non-empty list"),
    (
        "version: 1\nextends: builtin\nallow_paths: x\nrules: [{id: a, kind: sealed-value}]",
        "allow_paths: expected a list",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_policy_is_one_invalid_config_line(tmp_path: Path, text: str, message: str) -> None:
    path = write_policy(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        rules.load(path)
    assert str(err.value).startswith(f"invalid config: {path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_policy_on_the_command_line_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "version: 1\nrules: [{id: a, kind: magic}]")
    (tmp_path / "f.txt").write_text("hello\n")
    result = CliRunner().invoke(cli, ["scan", "--policy", path, str(tmp_path / "f.txt")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"sealer: invalid config: {path}: rules[0].kind: expected one of "
        "token, assignment, kubernetes-secret, sealed-value"
    ]


def test_missing_policy_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the policy file"):
        rules.load(str(tmp_path / "nope.yaml"))


def test_own_policy_replaces_builtin_rules(tmp_path: Path) -> None:
    policy = rules.load(write_policy(tmp_path, "version: 1\nrules:" + TOKEN_RULE))
    assert [r.id for r in policy.rules] == ["acme-token"]
    text = b"token: acme_0123456789abcdef01234567\nAKIA" + b"Z3MPLQ7RXTT2VW4B\n"
    assert [f.rule for f in scanner.scan_file("a.txt", text, policy)] == ["acme-token"]


def test_extends_builtin_adds_rules_replaces_same_ids_and_appends_lists(tmp_path: Path) -> None:
    policy = rules.load(
        write_policy(
            tmp_path,
            (
                "version: 1\nextends: builtin\nallow_paths: ['vendor/*']\n"
                "ignore_values: ['^acme_0+$']\nrules:"
                + TOKEN_RULE
                + "  - {id: kubernetes-secret, kind: kubernetes-secret, severity: note}\n"
            ),
        )
    )
    builtin = rules.load()
    ids = [r.id for r in policy.rules]
    assert set(ids) == {r.id for r in builtin.rules} | {"acme-token"}
    assert next(r for r in policy.rules if r.id == "kubernetes-secret").severity == "note"
    assert policy.allow_paths.matches("vendor/lib.py") and not builtin.allow_paths.matches("vendor/lib.py")
    assert policy.allow_paths.matches("yarn.lock")  # the built-in globs are still there
    assert len(policy.ignore_values) == len(builtin.ignore_values) + 1
    assert scanner.scan_file("a.txt", b"acme_000000000000000000000000", policy) == []


def test_extends_builtin_with_only_path_globs(tmp_path: Path) -> None:
    policy = rules.load(write_policy(tmp_path, "version: 1\nextends: builtin\nallow_paths: ['fixtures/*']\n"))
    assert [r.id for r in policy.rules] == [r.id for r in rules.load().rules]
    assert policy.allow_paths.matches("fixtures/keys.env")


@pytest.mark.parametrize(
    ("globs", "path", "matches"),
    [
        (["*.lock"], "poetry.lock", True),
        (["*.lock"], "sub/dir/poetry.lock", True),  # `*` crosses `/`
        (["go.sum"], "vendor/mod/go.sum", True),  # no `/`: the bare name matches too
        (["docs/*.md"], "docs/a.md", True),
        (["docs/*.md"], "other/docs/a.md", False),
        (["*.lock"], "lockfile.txt", False),
        ([], "anything", False),
    ],
)
def test_path_globs(globs: list[str], path: str, matches: bool) -> None:
    assert rules._globs(globs).matches(path) is matches


def test_policy_path_globs_skip_files_and_rule_paths_limit_rules(tmp_path: Path) -> None:
    token = b"Xk93mQz7LpR2vT8w"  # sealer: allow (test payload)
    secret = b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {token: " + token + b"}\n"
    policy = rules.load()
    assert "kubernetes-secret" in {f.rule for f in scanner.scan_file("s.yaml", secret, policy)}
    assert "kubernetes-secret" in {f.rule for f in scanner.scan_file("s.txt", secret, policy)}  # any type
    netrc = b"machine h login u password " + token + b"\n"
    assert "netrc-password" in {f.rule for f in scanner.scan_file("home/.netrc", netrc, policy)}
    assert "netrc-password" not in {f.rule for f in scanner.scan_file("notes.txt", netrc, policy)}
    own = rules.load(
        write_policy(
            tmp_path,
            (
                "version: 1\nallow_paths: ['fixtures/*']\nrules:\n"
                "  - {id: k, kind: kubernetes-secret, allow_paths: ['examples/*']}\n"
            ),
        )
    )
    assert scanner.scan_file("examples/s.yaml", secret, own) == []
    assert [f.rule for f in scanner.scan_file("deploy/s.yaml", secret, own)] == ["k"]
    from sealer.scan.files import Candidate

    result = scanner.run([Candidate("fixtures/s.yaml", secret)], own)
    assert result.findings == []
    assert result.skipped == [("fixtures/s.yaml", "allowlisted by a policy path glob")]


def test_an_allowed_path_is_looked_at_by_the_checksum_verified_rules_alone(tmp_path: Path) -> None:
    from sealer import apikey
    from sealer.scan.files import Candidate

    policy = rules.load(write_policy(tmp_path, "version: 1\nextends: builtin\nallow_paths: ['fixtures/*']\n"))
    key = apikey.generate("dev")
    text = f"API_KEY={key}\npassword = Xk93mQz7LpR2vT8wQ4nB6yHj\n".encode()  # sealer: allow (test payload)
    assert {f.rule for f in scanner.scan_file("a.env", text, policy)} == {
        "sealer-api-key",
        "generic-secret-assignment",
    }
    result = scanner.run([Candidate("fixtures/a.env", text)], policy)
    assert [(f.rule, f.line) for f in result.findings] == [("sealer-api-key", 1)]
    assert result.skipped == [
        ("fixtures/a.env", "allowlisted by a policy path glob: checksum-verified keys looked for")
    ]
    allowed = f"API_KEY={key}  # sealer: allow (fixture)\n".encode()
    assert scanner.run([Candidate("fixtures/b.env", allowed)], policy).findings == []


def test_a_secret_in_a_path_is_a_finding_reported_masked(tmp_path: Path) -> None:
    from sealer import apikey
    from sealer.scan.files import Candidate

    key = apikey.generate("dev")
    policy = rules.load()
    result = scanner.run(
        [
            Candidate(f"keys/{key}.env", f"API_KEY={key}\n".encode()),
            Candidate(f"gone/{key}", None, "deleted"),  # removed: its name leaves the tree
            Candidate("sub", None, "submodule"),
            Candidate("plain.txt", b"nothing\n"),
        ],
        policy,
    )
    masked = f"keys/slr_…[{len(key)} chars].env"
    assert [(f.path, f.line, f.column, f.note) for f in result.findings] == [
        (masked, 1, 6, "in its path"),
        (masked, 1, 9, ""),
    ]
    assert result.scanned == [masked, "plain.txt"] and key not in repr(result)


def test_a_key_escaped_in_a_path_is_a_finding_and_never_in_a_finding(tmp_path: Path) -> None:
    """The hit holds the key unescaped, which the path does not spell: the path is redacted
    as review and the reports redact it, before any finding (or baseline entry) takes it."""
    from sealer import apikey
    from sealer.scan.files import Candidate

    key = apikey.generate("dev")
    escaped = key.replace("_", "\\_")
    result = scanner.run([Candidate(f"keys/{escaped}.md", f"key: {escaped}\n".encode())], rules.load())
    path = "keys/slr_dev_[redacted].md"
    assert [(f.path, f.line, f.column, f.note) for f in result.findings] == [
        (path, 1, 6, "in its path"),
        (path, 1, 6, ""),
    ]
    assert result.scanned == [path] and key.split("_")[2] not in repr(result)
