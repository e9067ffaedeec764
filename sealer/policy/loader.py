"""The policy in force: the shipped policies/default.yaml, then a user's policy file, then the
per-environment `policy:` overrides in sealer.yaml. Later layers override earlier ones, option
by option; within a file, `environments.<env>` overrides that file's `rules`.

A policy file:
    rules:                     # every environment
      key-age: {max-days: 90}
    environments:              # one environment
      production:
        key-age: {max-days: 60}

Every option of every layer is checked against its rule's SCHEMA; all mistakes are reported
together, one `invalid config: <where>: <what>` each.

A user's policy file may lock a rule (`locked: true` in its options, or at the top of the file
for every rule; the most specific says): sealer.yaml is in the repository, any pull request
author writes it, so a CI gate's file would otherwise be weakened by it. A locked rule's options
are the file's alone: sealer.yaml setting any of them, for any environment, is a mistake like
the others (refused, exit 2), whether it loosens or tightens. So are those of the rules a locked
rule relies on (rules.RELIES_ON), unless the file leaves one open by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import config, repofiles, resources, yamlio
from sealer.config import Config
from sealer.errors import BadInput, ConfigError
from sealer.layout import CONFIG_FILE
from sealer.policy import schema
from sealer.policy.model import LEVELS
from sealer.policy.rules import RULES, relied_on
from sealer.terminal import PLAIN_ID

DEFAULT_FILE = "default.yaml"
# Options every rule takes, on top of its own.
COMMON: dict[str, Any] = {"enabled": True, "level": "error"}
COMMON_SCHEMA: dict[str, schema.Validator] = {"enabled": schema.flag, "level": schema.one_of(*LEVELS)}
_TOP = ("version", "rules", "environments")
LOCKED = "locked"  # a --policy file's alone: the default locks nothing, sealer.yaml cannot unlock

RuleOptions = dict[str, dict[str, Any]]  # rule id -> options


class PolicyError(ConfigError):
    """Every mistake found in the policy layers; `lines` holds one `invalid config:` line each."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.lines = [f"invalid config: {where}: {what}" for where, what in errors]
        self.args = ("\n".join(self.lines),)


@dataclass(frozen=True)
class Layer:
    source: str
    rules: RuleOptions = field(default_factory=dict)
    environments: dict[str, RuleOptions] = field(default_factory=dict)
    locked: bool = False  # the file's top-level `locked`: each rule's, unless the rule says otherwise

    def locks(self, rule_id: str, env: str) -> bool:
        """Whether this layer locks `rule_id` for `env`: its environment entry's `locked`, else its
        rules entry's, else the file's own."""
        given = self._given(rule_id, env)
        return self.locked if given is None else bool(given)

    def _given(self, rule_id: str, env: str) -> bool | None:
        """`locked` as this layer names it for `rule_id` in `env` (its environment entry's, else
        its rules entry's); None when it names none."""
        for options in (self.environments.get(env, {}).get(rule_id, {}), self.rules.get(rule_id, {})):
            if LOCKED in options:
                return bool(options[LOCKED])
        return None

    def lock_holder(self, rule_id: str, env: str) -> str | None:
        """The rule whose lock keeps `rule_id` this layer's for `env`: `rule_id` itself, or a locked
        rule relying on it (rules.RELIES_ON: it reports what that one cannot examine), unless the
        layer leaves `rule_id` open by name (`locked: false`). None when nothing locks it."""
        if self.locks(rule_id, env):
            return rule_id
        if self._given(rule_id, env) is False:
            return None
        relying = (other for other in RULES if rule_id in relied_on(other))
        return next((other for other in relying if self.locks(other, env)), None)


@dataclass(frozen=True)
class Policy:
    layers: tuple[Layer, ...]

    def conf(self, rule_id: str, env: str) -> dict[str, Any]:
        """The options of `rule_id` for `env`: defaults, then each layer's rules, then its env overrides."""
        conf = {**COMMON, **RULES[rule_id].DEFAULT}
        for layer in self.layers:
            conf.update(layer.rules.get(rule_id, {}))
            conf.update(layer.environments.get(env, {}).get(rule_id, {}))
        conf.pop(LOCKED, None)  # how the layers meet, not an option of the rule
        return conf

    @property
    def sources(self) -> list[str]:
        return [layer.source for layer in self.layers]


def _rule_options(raw: Any, where: str, errors: list[tuple[str, str]], lockable: bool = False) -> RuleOptions:
    """Validated {rule id: options}; what is wrong goes to `errors`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append((where, "must be a mapping of rule ids to option mappings"))
        return {}
    odd = {rule_id for rule_id in raw if not isinstance(rule_id, str) or not PLAIN_ID.match(rule_id)}
    if odd:  # a hostile file's id could bring control characters or line breaks into the output
        errors.append(
            (where, f"{_ids(len(odd))} not a plain id (lowercase letters, digits, hyphens): not shown")
        )
    out: RuleOptions = {}
    for rule_id, options in raw.items():
        if rule_id in odd:
            continue
        here = f"{where}.{rule_id}"
        if rule_id not in RULES:
            errors.append((here, f"unknown rule (known: {', '.join(sorted(RULES))})"))
        elif options is not None and not isinstance(options, dict):
            errors.append((here, "must be a mapping of options"))
        else:
            out[rule_id] = _options(rule_id, options or {}, here, errors, lockable)
    return out


def _ids(count: int) -> str:
    return "a rule id is" if count == 1 else f"{count} rule ids are"


def _options(
    rule_id: str, options: dict[str, Any], where: str, errors: list[tuple[str, str]], lockable: bool
) -> dict[str, Any]:
    validators = {**COMMON_SCHEMA, **RULES[rule_id].SCHEMA, **({LOCKED: schema.flag} if lockable else {})}
    good = {}
    for name, value in options.items():
        if name == LOCKED and not lockable:
            errors.append((f"{where}.{name}", "only a --policy file locks a rule"))
        elif name not in validators:
            errors.append((f"{where}.{name}", f"unknown option (known: {', '.join(sorted(validators))})"))
        elif (what := validators[name](value)) is not None:
            errors.append((f"{where}.{name}", what))
        else:
            good[name] = value
    return good


def parse(data: Any, source: str, errors: list[tuple[str, str]], lockable: bool = False) -> Layer:
    """A policy file's document as a Layer; its mistakes are appended to `errors`. Only a user's
    file (`lockable`) may say `locked`."""
    if data is None:
        return Layer(source)
    if not isinstance(data, dict):
        errors.append((source, "must be a mapping with `rules` and/or `environments`"))
        return Layer(source)
    top = (*_TOP, LOCKED) if lockable else _TOP
    known = ", ".join(top)
    errors.extend((f"{source}: {key}", f"unknown key (known: {known})") for key in data if key not in top)
    if data.get("version", 1) != 1:
        errors.append((f"{source}: version", "must be 1"))
    if lockable and (what := schema.flag(data.get(LOCKED, False))) is not None:
        errors.append((f"{source}: {LOCKED}", what))
    envs = {} if data.get("environments") is None else data["environments"]
    if not isinstance(envs, dict):
        errors.append((f"{source}: environments", "must be a mapping of environment names"))
        envs = {}
    rules = _rule_options(data.get("rules"), f"{source}: rules", errors, lockable)
    return Layer(
        source,
        rules,
        {
            str(env): _rule_options(opts, f"{source}: environments.{env}", errors, lockable)
            for env, opts in envs.items()
        },
        data.get(LOCKED) is True and lockable,
    )


def _file_layer(
    text: str | bytes, source: str, errors: list[tuple[str, str]], lockable: bool = False
) -> Layer:
    try:
        docs = yamlio.load_with_nodes(text, source)
    except BadInput as err:
        errors.append((source, str(err).removeprefix(f"{source}: ")))
        return Layer(source)
    try:
        yamlio.only_document(docs, source, ConfigError)
    except ConfigError as err:  # listed with every other mistake; the first document is still checked
        errors.append((err.where, err.what))
    if not docs:
        return Layer(source)
    _check_environment_names(docs[0].node, source, errors)
    return parse(docs[0].value, source, errors, lockable)


def _check_environment_names(node: Any, source: str, errors: list[tuple[str, str]]) -> None:
    """An environment's name as written, as in sealer.yaml (`config.key_problem`): `0x1:` applied
    its overrides to the environment 1, while a reader took them for none. Rule ids are plain ids."""
    for path, key in yamlio.mapping_keys(node):
        problem = config.key_problem(path, key) if path == ("environments",) else None
        if problem is not None:
            errors.append((f"{source}: {problem[0]}", problem[1]))


def default_text() -> str:
    return (resources.policies() / DEFAULT_FILE).read_text(encoding="utf-8")


def _unknown_environments(layer: Layer, cfg: Config) -> list[tuple[str, str]]:
    """A user's policy file naming an environment sealer.yaml does not list: a typo there
    (`prodution`) would apply nothing, silently, where the file meant a stricter rule. The shipped
    default is not held to this: it names the usual environments, whichever a repo has."""
    known = ", ".join(cfg.environments) or "none"
    return [
        (f"{layer.source}: environments.{name}", f"sealer.yaml lists no such environment (it has {known})")
        for name in layer.environments
        if name not in cfg.environments
    ]


def _lock_breaches(layer: Layer, ours: Layer) -> list[tuple[str, str]]:
    """sealer.yaml setting an option of a rule `layer` locks for that environment: refused, stricter
    or not, as the file is the gate a pull request cannot move (tightening goes in the file)."""
    return [
        (
            f"{ours.source}: environments.{env}.policy.{rule_id}",
            f"locked by {layer.source}{_as_relied_on(rule_id, holder)}: set it there, not in {ours.source}",
        )
        for env, rules in ours.environments.items()
        for rule_id, options in rules.items()
        if options and (holder := layer.lock_holder(rule_id, env))
    ]


def _as_relied_on(rule_id: str, holder: str) -> str:
    return "" if holder == rule_id else f", as {holder} there relies on it"


def load(cfg: Config, policy_file: str | Path | None = None) -> Policy:
    """The merged policy for `cfg`; PolicyError lists every mistake in every layer."""
    errors: list[tuple[str, str]] = []
    layers = [_file_layer(default_text(), f"policies/{DEFAULT_FILE}", errors)]
    if policy_file is not None:
        text = repofiles.read_input(policy_file, "policy file", user_path=True)
        mistakes = len(errors)
        layers.append(_file_layer(text, str(policy_file), errors, lockable=True))
        if len(errors) == mistakes:  # `0x1:` is refused as written, not again as the environment 1
            errors.extend(_unknown_environments(layers[-1], cfg))
    ours = Layer(
        CONFIG_FILE,
        environments={
            name: _rule_options(env.policy, f"{CONFIG_FILE}: environments.{name}.policy", errors)
            for name, env in cfg.environments.items()
        },
    )
    errors.extend(error for layer in layers for error in _lock_breaches(layer, ours))
    layers.append(ours)
    if errors:
        raise PolicyError(errors)
    return Policy(tuple(layers))
