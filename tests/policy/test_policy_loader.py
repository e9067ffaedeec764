"""Policy files: the default policy, layering, and `invalid config:` lines for every mistake."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from support import token_vectors
from support.policy_repos import RepoFactory, age_keys, edit_config, edit_sealed, sealer

from sealer import config, yamlio
from sealer.policy import loader, schema
from sealer.policy.loader import Layer, Policy, PolicyError
from sealer.policy.rules import RELIES_ON, RULES, relied_on

KNOWN_RULES = ", ".join(sorted(RULES))

# (policy file text, [(where after the file name, what)]) — every line `sealer check` prints.
BAD_POLICIES = [
    ("rules: []\n", [("rules", "must be a mapping of rule ids to option mappings")]),
    ("rules:\n  key-agee: {}\n", [("rules.key-agee", f"unknown rule (known: {KNOWN_RULES})")]),
    ("rules:\n  key-age: [1]\n", [("rules.key-age", "must be a mapping of options")]),
    (
        "rules:\n  key-age:\n    max-days: ninety\n",
        [("rules.key-age.max-days", "must be a whole number of at least 1, got 'ninety'")],
    ),
    (
        "rules:\n  key-age:\n    max-days: 0\n",
        [("rules.key-age.max-days", "must be a whole number of at least 1, got 0")],
    ),
    (  # days are added to dates: past the calendar, check and audit stopped on an OverflowError
        "rules:\n  key-age:\n    max-days: 99999999999999\n",
        [("rules.key-age.max-days", "must be at most 3650, got 99999999999999")],
    ),
    (
        "rules:\n  grace-window:\n    max-days: 3651\n",
        [("rules.grace-window.max-days", "must be at most 3650, got 3651")],
    ),
    (
        "rules:\n  cert-expiry:\n    min-days: 10000000\n",
        [("rules.cert-expiry.min-days", "must be at most 3650, got 10000000")],
    ),
    (
        "rules:\n  key-age:\n    max-days: true\n",
        [("rules.key-age.max-days", "must be a whole number of at least 1, got True")],
    ),
    (
        "rules:\n  key-age:\n    maxdays: 3\n",
        [("rules.key-age.maxdays", "unknown option (known: enabled, level, locked, max-days, warn-days)")],
    ),
    (
        "rules:\n  key-age:\n    level: fatal\n",
        [("rules.key-age.level", "must be one of error, warning, got 'fatal'")],
    ),
    ("rules:\n  cert-file:\n    enabled: 1\n", [("rules.cert-file.enabled", "must be true or false, got 1")]),
    (
        "environments:\n  production:\n    scope:\n      required: loose\n",
        [
            (
                "environments.production.scope.required",
                "must be one of cluster-wide, namespace-wide, strict or null, got 'loose'",
            )
        ],
    ),
    (
        "rules:\n  backend:\n    required: s3\n",
        [
            (
                "rules.backend.required",
                "must be one of auth0, dynamodb, k8s-secrets, postgres, vault or null, got 's3'",
            )
        ],
    ),
    (
        "rules:\n  namespace:\n    allowed: team-*\n",
        [("rules.namespace.allowed", "must be a list of non-empty strings, got 'team-*'")],
    ),
    ("environments: []\n", [("environments", "must be a mapping of environment names")]),
    (
        "environments:\n  production: 5\n",
        [("environments.production", "must be a mapping of rule ids to option mappings")],
    ),
    (  # the environment 1's overrides, while a reader takes them for none
        "environments:\n  0x1:\n    key-age: {max-days: 3650}\n  production: {}\n",
        [("environments.0x1", "YAML reads '0x1' as the integer 1, not as a name: quote it ('0x1':)")],
    ),
    ("rule: {}\n", [("rule", "unknown key (known: version, rules, environments, locked)")]),
    (  # a lock is true or false: a string read as either would be a guess
        "rules:\n  key-age:\n    locked: 'yes'\n",
        [("rules.key-age.locked", "must be true or false, got 'yes'")],
    ),
    (
        "environments:\n  production:\n    key-age: {locked: 1}\n",
        [("environments.production.key-age.locked", "must be true or false, got 1")],
    ),
    ("locked: 'true'\n", [("locked", "must be true or false, got 'true'")]),
    (  # a typo would apply nothing, silently, where the file meant a stricter rule
        "environments:\n  prodution:\n    key-age: {max-days: 30}\n",
        [
            (
                "environments.prodution",
                "sealer.yaml lists no such environment (it has dev, staging, production)",
            )
        ],
    ),
    ("version: 2\n", [("version", "must be 1")]),
    ("- key-age\n", [("", "must be a mapping with `rules` and/or `environments`")]),
    ("rules: [\n", [("", "not valid YAML at line 2")]),
    ("rules: {}\n---\nrules: {}\n", [("", "holds several YAML documents; expected one")]),
    (
        "rules:\n  key-age:\n    max-days: x\n    warn-days: -1\n  nope: {}\n",
        [
            ("rules.key-age.max-days", "must be a whole number of at least 1, got 'x'"),
            ("rules.key-age.warn-days", "must be a whole number of at least 0, got -1"),
            ("rules.nope", f"unknown rule (known: {KNOWN_RULES})"),
        ],
    ),
]


def expected_lines(path: Path, errors: list[tuple[str, str]]) -> list[str]:
    return [
        f"sealer: invalid config: {path}{': ' + where if where else ''}: {what}" for where, what in errors
    ]


@pytest.mark.parametrize(("text", "errors"), BAD_POLICIES, ids=[f"bad{i}" for i in range(len(BAD_POLICIES))])
@pytest.mark.parametrize("command", ["check", "audit"])
def test_bad_policy_file(
    text: str, errors: list[tuple[str, str]], command: str, compliant_repo: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = sealer(compliant_repo, command, "--policy", str(policy))  # reads the repo, never writes
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected_lines(policy, errors)
    assert result.stdout == ""


def test_bad_overrides_in_sealer_yaml(repo_factory: RepoFactory) -> None:
    root = repo_factory()

    def bad(doc: Any) -> None:
        doc["environments"]["dev"]["policy"] = {"key-age": {"max-days": "x"}, "nope": {}}
        doc["environments"]["production"]["policy"] = {"scope": {"required": "loose"}}

    edit_config(root, bad)
    result = sealer(root, "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "sealer: invalid config: sealer.yaml: environments.dev.policy.key-age.max-days: "
        "must be a whole number of at least 1, got 'x'",
        "sealer: invalid config: sealer.yaml: environments.dev.policy.nope: "
        f"unknown rule (known: {KNOWN_RULES})",
        "sealer: invalid config: sealer.yaml: environments.production.policy.scope.required: "
        "must be one of cluster-wide, namespace-wide, strict or null, got 'loose'",
    ]


PLAIN = "not a plain id (lowercase letters, digits, hyphens): not shown"


def test_a_rule_name_in_sealer_yaml_that_is_no_plain_id_is_refused_unshown(repo_factory: RepoFactory) -> None:
    """A pull request's sealer.yaml names the rule: its CR, ESC or U+2028 went to stderr as they
    were, then escaped; an id is a plain token now, and any other is refused without being shown."""
    root = repo_factory()

    def bad(doc: Any) -> None:
        doc["environments"]["dev"]["policy"] = {"x\x1b[2K\rsealer: policy ok\u2028": {}, "Key-Age": {}}

    edit_config(root, bad)
    result = sealer(root, "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"sealer: invalid config: sealer.yaml: environments.dev.policy: 2 rule ids are {PLAIN}"
    ]


@pytest.mark.parametrize(
    "rule_id",
    ["key-age\n", "key-age\x1b[2J", "key age", "-key-age", "key_age", "KEY-AGE", "ключ", "`key`", 1, None],
    ids=repr,
)
def test_a_policy_file_rule_id_that_is_no_plain_token_is_refused_in_one_line(
    repo_factory: RepoFactory, tmp_path: Path, rule_id: object
) -> None:
    """A policy file (a pull request's, or --policy) gives rule ids as `[a-z0-9][a-z0-9-]*`, as
    every shipped rule's is: any other is refused when the policy loads, one line, exit 2,
    without showing it. Output may then show every rule id as given."""
    root = repo_factory()
    policy = tmp_path / "policy.yaml"
    policy.write_text(yamlio.dump({"rules": {rule_id: {}}}))  # 1 and None: YAML keys no string
    result = sealer(root, "check", "--policy", str(policy))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"sealer: invalid config: {policy}: rules: a rule id is {PLAIN}"]


def test_a_credential_a_policy_file_gives_as_a_key_is_never_echoed(
    repo_factory: RepoFactory, tmp_path: Path
) -> None:
    """Each of a policy file's mistakes is its own line, hidden as any error line is
    (`cli.shown`): a token pasted as a key was echoed whole to CI logs."""
    token = token_vectors.render("ghp_{b62:30}{crc}", random.Random(1))
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"{token}: 1\n")
    result = sealer(repo_factory(), "check", "--policy", str(policy))
    assert result.exit_code == 2 and token not in result.stderr, result.stderr
    assert f"{policy}: <github-token: not shown>: unknown key" in result.stderr, result.stderr


def test_every_shipped_rule_id_is_a_plain_id() -> None:
    from sealer.scan import rules as detectors
    from sealer.terminal import PLAIN_ID

    assert [rule_id for rule_id in RULES if not PLAIN_ID.match(rule_id)] == []
    assert [rule.id for rule in detectors.load().rules if not PLAIN_ID.match(rule.id)] == []


@pytest.mark.parametrize(
    ("policy", "what"),
    [
        ("[key-age]", "environments.dev.policy: must be a mapping of rule ids to option mappings"),
        ("{key-age: 5}", "environments.dev.policy.key-age: must be a mapping of options"),
    ],
)
def test_badly_shaped_overrides_fail_the_config_load(
    policy: str, what: str, repo_factory: RepoFactory
) -> None:
    root = repo_factory()
    text = (root / "sealer.yaml").read_text().replace("  dev:\n", f"  dev:\n    policy: {policy}\n", 1)
    (root / "sealer.yaml").write_text(text)
    result = sealer(root, "check")
    assert (result.exit_code, result.stderr.strip()) == (2, f"sealer: invalid config: sealer.yaml: {what}")


def test_missing_policy_file(repo_factory: RepoFactory, tmp_path: Path) -> None:
    result = sealer(repo_factory(), "check", "--policy", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sealer: cannot read policy file {tmp_path / 'nope.yaml'}: ")


def test_default_policy_settings() -> None:
    policy = loader.load(config.Config(Path("."), {}))
    assert [policy.conf("key-age", env)["max-days"] for env in ("production", "staging", "dev", "qa")] == [
        90,
        30,
        180,
        90,
    ]
    assert policy.conf("key-age", "qa")["warn-days"] == 7
    assert policy.conf("scope", "production")["required"] == "strict"
    assert policy.conf("scope", "staging")["required"] is None
    bits = [policy.conf("cert-strength", env)["min-bits"] for env in ("production", "staging")]
    assert bits == [4096, 2048]
    assert policy.conf("grace-window", "dev") == {"enabled": True, "level": "error", "max-days": 7}


def test_default_policy_lists_every_rule_with_valid_options() -> None:
    data = yamlio.load_documents(loader.default_text(), "default.yaml")[0]
    assert set(data["rules"]) == set(RULES)
    errors: list[tuple[str, str]] = []
    loader.parse(data, "default.yaml", errors)
    assert errors == []


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_module_contract(rule_id: str) -> None:
    rule = RULES[rule_id]
    assert rule.ID == rule_id
    assert rule.__name__.rsplit(".", 1)[1] == rule_id.replace("-", "_")  # type: ignore[attr-defined]
    assert set(rule.DEFAULT) == set(rule.SCHEMA)
    assert all(rule.SCHEMA[name](value) is None for name, value in rule.DEFAULT.items())
    assert rule.DESCRIPTION


def test_layers_override_option_by_option() -> None:
    def layer(source: str, rules: dict[str, Any], envs: dict[str, Any]) -> Layer:
        return Layer(source, rules, envs)

    policy = Policy(
        (
            layer(
                "default",
                {"key-age": {"max-days": 90, "warn-days": 7}},
                {"staging": {"key-age": {"max-days": 30}}},
            ),
            layer("user", {"key-age": {"max-days": 60}}, {"prod": {"key-age": {"warn-days": 14}}}),
            layer("sealer.yaml", {}, {"prod": {"key-age": {"max-days": 45, "level": "warning"}}}),
        )
    )
    assert policy.conf("key-age", "staging") == {
        "enabled": True,
        "level": "error",
        "max-days": 60,
        "warn-days": 7,
    }
    assert policy.conf("key-age", "prod") == {
        "enabled": True,
        "level": "warning",
        "max-days": 45,
        "warn-days": 14,
    }
    assert policy.sources == ["default", "user", "sealer.yaml"]


def test_policy_error_keeps_every_line() -> None:
    err = PolicyError([("a.yaml: rules.x", "unknown rule"), ("a.yaml: version", "must be 1")])
    assert err.lines == [
        "invalid config: a.yaml: rules.x: unknown rule",
        "invalid config: a.yaml: version: must be 1",
    ]
    assert str(err) == "\n".join(err.lines)


VALIDATORS = [
    (schema.whole(1), 1, True),
    (schema.whole(1), 0, False),
    (schema.whole(0), 0, True),
    (schema.whole(1), True, False),
    (schema.whole(1), 1.5, False),
    (schema.whole(1), "3", False),
    (schema.one_of("a", "b"), "a", True),
    (schema.one_of("a", "b"), "c", False),
    (schema.one_of("a"), None, False),
    (schema.one_of("a", nullable=True), None, True),
    (schema.flag, False, True),
    (schema.flag, "false", False),
    (schema.names, [], True),
    (schema.names, ["x", "y-*"], True),
    (schema.names, [""], False),
    (schema.names, "x", False),
    (schema.names, [1], False),
]


@pytest.mark.parametrize(("validator", "value", "valid"), VALIDATORS)
def test_validators(validator: schema.Validator, value: Any, valid: bool) -> None:
    assert (validator(value) is None) == valid


def test_sealer_yaml_without_policy_still_loads(tmp_path: Path) -> None:
    dev = {"namespace": "dev", "secretName": "s", "valuesFile": "v.yaml"}
    qa = {
        "namespace": "qa",
        "secretName": "s",
        "valuesFile": "q.yaml",
        "policy": {"key-age": None, "scope": {"required": "strict"}},
    }
    raw = {"version": 1, "environments": {"dev": dev, "qa": qa}}
    cfg = config.parse(raw, tmp_path)
    assert cfg.env("dev").policy == {}
    assert cfg.env("qa").policy == {"key-age": {}, "scope": {"required": "strict"}}


# ---- locked rules: a --policy file's, which sealer.yaml (any pull request's) cannot move ----------

LOCKS = [  # (policy file, dev's override in sealer.yaml)
    ("rules:\n  key-age: {locked: true}\n", {"enabled": False}),
    ("rules:\n  key-age: {locked: true, max-days: 60}\n", {"max-days": 3650}),
    ("rules:\n  key-age: {locked: true}\n", {"warn-days": 30}),  # stricter: that goes in the file too
    ("rules:\n  key-age: {locked: true}\n", {"level": "error"}),  # even the value it has
    ("environments:\n  dev:\n    key-age: {locked: true}\n", {"enabled": False}),
    ("locked: true\n", {"level": "warning"}),  # every rule, named in the file or not
    (  # the most specific says: dev's entry locks what the rules entry leaves open
        "locked: true\nrules:\n  key-age: {locked: false}\n"
        "environments:\n  dev:\n    key-age: {locked: true}\n",
        {"warn-days": 14},
    ),
]


@pytest.mark.parametrize(("text", "override"), LOCKS, ids=[f"lock{i}" for i in range(len(LOCKS))])
@pytest.mark.parametrize(
    "args", [("check",), ("check", "production"), ("check", "--output", "json"), ("audit",)], ids=" ".join
)
def test_sealer_yaml_setting_a_locked_rule_is_refused(
    text: str, override: dict[str, Any], args: tuple[str, ...], repo_factory: RepoFactory, tmp_path: Path
) -> None:
    """A CI gate's `--policy` file locks key-age: a pull request's sealer.yaml setting any option
    of it, for any environment (checked or not), looser or stricter, is refused in one line
    naming the rule and the environment (exit 2, as any other mistake in a policy layer)."""
    root = repo_factory()

    def change(doc: Any) -> None:
        doc["environments"]["dev"]["policy"] = {"key-age": override}

    edit_config(root, change)
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = sealer(root, *args, "--policy", str(policy))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"sealer: invalid config: sealer.yaml: environments.dev.policy.key-age: locked by {policy}: "
        "set it there, not in sealer.yaml"
    ]
    assert result.stdout == ""
    assert sealer(root, *args).exit_code == 0  # without the file, sealer.yaml's override applies


def test_every_locked_rule_sealer_yaml_sets_is_listed(repo_factory: RepoFactory, tmp_path: Path) -> None:
    root = repo_factory()

    def change(doc: Any) -> None:
        doc["environments"]["dev"]["policy"] = {"scope": {"required": "strict"}, "key-age": {"max-days": 60}}
        doc["environments"]["production"]["policy"] = {"cert-expiry": {"enabled": False}}

    edit_config(root, change)
    policy = tmp_path / "policy.yaml"
    policy.write_text("locked: true\nrules:\n  scope: {locked: false}\n")
    result = sealer(root, "check", "--policy", str(policy))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"sealer: invalid config: sealer.yaml: environments.{env}.policy.{rule}: locked by {policy}: "
        "set it there, not in sealer.yaml"
        for env, rule in (("dev", "key-age"), ("production", "cert-expiry"))
    ]


@pytest.mark.parametrize("with_file", [False, True])
def test_locked_in_sealer_yaml_is_refused(with_file: bool, repo_factory: RepoFactory, tmp_path: Path) -> None:
    """Only the --policy file locks: in sealer.yaml, `locked: false` would read as an unlock."""
    root = repo_factory()

    def change(doc: Any) -> None:
        doc["environments"]["dev"]["policy"] = {"key-age": {"locked": False}}

    edit_config(root, change)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  key-age: {locked: true}\n")
    result = sealer(root, "check", *(["--policy", str(policy)] if with_file else []))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "sealer: invalid config: sealer.yaml: environments.dev.policy.key-age.locked: "
        "only a --policy file locks a rule"
    ]


def test_the_default_policy_cannot_lock() -> None:
    errors: list[tuple[str, str]] = []
    layer = loader.parse({"locked": True, "rules": {"key-age": {"locked": True}}}, "default.yaml", errors)
    assert errors == [
        ("default.yaml: locked", "unknown key (known: version, rules, environments)"),
        ("default.yaml: rules.key-age.locked", "only a --policy file locks a rule"),
    ]
    assert not layer.locks("key-age", "dev")


def test_the_most_specific_lock_says() -> None:
    errors: list[tuple[str, str]] = []
    data = {
        "locked": True,
        "rules": {"key-age": {"locked": False}, "scope": {}},
        "environments": {"production": {"key-age": {"locked": True}}, "dev": {"scope": {"locked": False}}},
    }
    layer = loader.parse(data, "org.yaml", errors, lockable=True)
    assert errors == []
    locks = {
        (rule, env): layer.locks(rule, env) for rule in ("key-age", "scope") for env in ("dev", "production")
    }
    assert locks == {
        ("key-age", "dev"): False,
        ("key-age", "production"): True,
        ("scope", "dev"): False,
        ("scope", "production"): True,
    }
    assert "locked" not in Policy((layer,)).conf("key-age", "production")  # no option of the rule


def test_a_rule_a_locked_rule_relies_on_is_locked_too(repo_factory: RepoFactory, tmp_path: Path) -> None:
    """key-age locked, production's key past its age: key-age judges the keys of the entries
    sealer.yaml lists, by their ledger records, and leaves the rest to key-ledger. A pull request
    listing another entry (the same ciphertext under a new name) and turning key-ledger off would
    have passed the gate while the cluster kept the overdue key: key-ledger is locked with it."""
    root = repo_factory()
    age_keys(root, "production", 100)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  key-age: {locked: true}\n")
    assert sealer(root, "check", "--policy", str(policy)).exit_code == 1

    def change(doc: Any) -> None:
        doc["environments"]["production"]["keys"] = ["renamed"]
        doc["environments"]["production"]["policy"] = {"key-ledger": {"enabled": False}}

    def copy(data: dict[str, Any]) -> None:
        data["renamed"] = data["apiKey"]

    edit_config(root, change)
    edit_sealed(root, "production", lambda doc: copy(doc["spec"]["encryptedData"]))
    values = root / "deploy/production/values.yaml"
    doc = yamlio.load_documents(values.read_text(), "values")[0]
    copy(doc["sealer"]["encryptedData"])
    values.write_text(yamlio.dump(doc))
    result = sealer(root, "check", "--policy", str(policy))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "sealer: invalid config: sealer.yaml: environments.production.policy.key-ledger: "
        f"locked by {policy}, as key-age there relies on it: set it there, not in sealer.yaml"
    ]
    assert sealer(root, "check").exit_code == 0  # what the lock keeps out


LOCK_HOLDERS = [  # (policy file, rule, environment, the rule whose lock covers it)
    ({"rules": {"key-age": {"locked": True}}}, "key-ledger", "dev", "key-age"),
    ({"rules": {"key-age": {"locked": True}}}, "key-present", "dev", None),
    ({"rules": {"key-sealed": {"locked": True}}}, "cert-file", "dev", "key-sealed"),  # key-present's too
    ({"rules": {"cert-expiry": {"locked": True}}}, "cert-file", "dev", "cert-expiry"),
    ({"environments": {"production": {"key-age": {"locked": True}}}}, "key-ledger", "dev", None),
    ({"environments": {"production": {"key-age": {"locked": True}}}}, "key-ledger", "production", "key-age"),
    (  # the file leaves it open by name: the most specific says
        {"rules": {"key-age": {"locked": True}, "key-ledger": {"locked": False}}},
        "key-ledger",
        "dev",
        None,
    ),
    (
        {"rules": {"key-age": {"locked": True}}, "environments": {"dev": {"key-ledger": {"locked": False}}}},
        "key-ledger",
        "dev",
        None,
    ),
    ({"locked": True, "rules": {"key-ledger": {"locked": False}}}, "key-ledger", "dev", None),
    ({"locked": True, "rules": {"key-age": {"locked": False}}}, "key-ledger", "dev", "key-ledger"),
]


@pytest.mark.parametrize(("data", "rule", "env", "holder"), LOCK_HOLDERS)
def test_lock_holder(data: dict[str, Any], rule: str, env: str, holder: str | None) -> None:
    errors: list[tuple[str, str]] = []
    layer = loader.parse(data, "org.yaml", errors, lockable=True)
    assert errors == []
    assert layer.lock_holder(rule, env) == holder


def test_relied_on_rules_are_rules() -> None:
    assert set(RELIES_ON) | {r for rs in RELIES_ON.values() for r in rs} <= set(RULES)
    assert relied_on("key-sealed") == ("cert-file", "cert-strength", "key-present", "key-ledger")
    assert all(rule not in relied_on(rule) for rule in RULES)
