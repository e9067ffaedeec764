"""Run every enabled rule over the chosen environments: `sealer check`'s core."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import branches
from sealer.config import Config, Environment
from sealer.errors import BadInput, SealerError
from sealer.policy import casefold, certfolder, leftovers, loader, unheld
from sealer.policy.model import ERROR, WARNING, Context, Problem
from sealer.policy.rules import RULES, cert_distinct


@dataclass(frozen=True)
class Report:
    environments: tuple[str, ...]
    problems: tuple[Problem, ...]
    policy: tuple[str, ...]  # the policy layers applied, in order

    @property
    def errors(self) -> int:
        return sum(p.level == ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.level == WARNING for p in self.problems)

    def failed(self, strict: bool = False) -> bool:
        """Errors fail; warnings fail only with --strict."""
        return bool(self.errors or (strict and self.warnings))

    def as_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": not self.failed(strict),
            "strict": strict,
            "environments": list(self.environments),
            "errors": self.errors,
            "warnings": self.warnings,
            "policy": list(self.policy),
            "problems": [p.as_dict() for p in self.problems],
        }


def select(cfg: Config, names: Iterable[str]) -> list[Environment]:
    """The named environments (BadInput for an unknown one), or all of them."""
    names = list(dict.fromkeys(names))
    return [cfg.env(name) for name in names] if names else list(cfg.environments.values())


def problems(ctx: Context, policy: loader.Policy, envs: Iterable[Environment]) -> list[Problem]:
    found: list[Problem] = []
    for env in envs:
        for rule_id, rule in RULES.items():
            conf = policy.conf(rule_id, env.name)
            if conf["enabled"]:
                found.extend(_at_level(p, conf["level"]) for p in rule.check(ctx, env, conf))
    return found


def refuse_shared_cert(cfg: Config, env_name: str, fingerprint: str, key: str) -> None:
    """`cert add` of a certificate (or of its public key `key`) another environment pins, which
    `check` would then fail (cert-distinct: one controller key opening the keys of both):
    refused, unless the repository's policy (the default, then sealer.yaml's overrides) lets each
    of them share it."""
    shared = cert_distinct.pinned_elsewhere(Context(cfg), env_name, fingerprint, key)
    if not shared:
        return
    policy = loader.load(cfg)
    envs = dict.fromkeys([env_name, *(where.partition("/")[0] for where in shared)])
    if any(_fails(policy.conf(cert_distinct.ID, env)) for env in envs):
        raise BadInput(
            f"certificate {fingerprint[:16]}… is already pinned for {', '.join(shared)}: each environment "
            f"seals with its own controller certificate ({cert_distinct.ID}; "
            f"`{cert_distinct.ID}: {{enabled: false}}` in each one's policy allows it)"
        )


def _fails(conf: dict[str, Any]) -> bool:
    """A rule's problems fail `check` (exit 1) when it is enabled at level error."""
    return bool(conf["enabled"]) and conf["level"] == ERROR


def after_waiting_rotations(cfg: Config, found: list[Problem]) -> list[Problem]:
    """A fix of `sealer rotate ENV` while a rotation of ENV waits on a branch this checkout does
    not hold yet (its pull request not merged, or main took it in since), here or as origin's
    copy of one of sealer's own (as `sealer rotate` without --push reads them): that command is
    refused until then, so merging the branch is the fix. Git is asked only when such a fix is
    given: a clean hook run asks nothing more."""
    rotating = {p.rotation.env for p in found if p.rotation}
    if not rotating:
        return found
    waiting: dict[str, str] = {}
    try:
        for env, branch in branches.waiting_rotations(cfg.root, sorted(rotating), None):
            waiting.setdefault(env, branch)
        why = {env: _why_refused(cfg, env, branch) for env, branch in waiting.items()}
    except SealerError:
        return found  # no Git to ask (an export of the repository): the plain command
    return [
        dataclasses.replace(p, fix=_merge_first(p, waiting[p.rotation.env], why[p.rotation.env]))
        if p.rotation and p.rotation.env in waiting
        else p
        for p in found
    ]


def _why_refused(cfg: Config, env: str, branch: str) -> str:
    """The branch is a rotation's own (its pull request not merged), or one that took a rotation
    in since this checkout branched off (main moved on), where no rotation waits."""
    if branches.is_remote_copy(cfg.root, branch) or branches.is_own(cfg.root, branch):
        return f"a rotation of {env} waits there"
    return f"it holds a newer rotation of {env}"


def _merge_first(problem: Problem, branch: str, why: str) -> str:
    """`rotate ENV` is refused while the branch waits; `rotate --due` rotates the others and
    skips this environment (exit 4)."""
    refused = f"skips {problem.env}" if problem.rotation and problem.rotation.due else "is refused"
    return f"merge branch {branch} first ({why}: `{problem.fix}` {refused} until then)"


def _at_level(problem: Problem, level: str) -> Problem:
    """`level: warning` turns a rule's errors into warnings; it never raises a warning to an error."""
    return dataclasses.replace(problem, level=WARNING) if level == WARNING else problem


def check(
    cfg: Config,
    env_names: Iterable[str] = (),
    policy_file: str | Path | None = None,
    now: dt.datetime | None = None,
    drift: bool = False,
) -> Report:
    names = list(env_names)
    envs = select(cfg, names)
    policy = loader.load(cfg, policy_file)
    found = after_waiting_rotations(cfg, problems(Context(cfg, now), policy, envs))
    # what Git holds, asked once (named environments' case-collision reads their values files too);
    # Git unable to say is a problem of its own, the rules below then reading the disk alone
    held, unread = leftovers.read_index(cfg)
    found += unread
    # a named environment's own folder too: its GitOps application applies what it holds there
    found += leftovers.cluster_problems(cfg, envs, held)
    found += leftovers.deleted_problems(cfg, envs, held)  # its own files Git holds, gone from disk
    found += leftovers.submodule_problems(cfg, envs, held)  # or holds as another repository's
    found += unheld.problems(cfg, envs, held)  # or that it lacks, though on disk
    if not names:  # every environment: what is left of one removed from sealer.yaml (or a file
        found += leftovers.problems(cfg, held)  # beside their folders) too, the files of certs/ no
        found += certfolder.problems(cfg, held)  # environment pins
    # named ones: their own paths (`sealed/staging/Staging.yaml`), which `check` alone also fails
    found += casefold.problems(cfg, held, envs if names else None)
    if drift:  # #17: asked for on the command line only, so no repository file can turn it off
        found += drift_problems(cfg, envs, now)
    return Report(tuple(e.name for e in envs), tuple(found), tuple(policy.sources))


DRIFT_RULE = "store-drift"


def drift_problems(cfg: Config, envs: Iterable[Environment], now: dt.datetime | None = None) -> list[Problem]:
    """Each store's drift from the committed ledger (`sealer check --drift`), always an error."""
    from sealer import drift

    found = drift.compare_all(cfg, [env.name for env in envs], now)
    return [
        Problem(
            DRIFT_RULE,
            d.env,
            ERROR,
            f"{d.kind}: " + (f"{d.key_id} ({d.name}): " if d.key_id else "") + d.message,
            d.fix,
        )
        for d in found
    ]
