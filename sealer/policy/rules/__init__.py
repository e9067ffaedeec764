"""Every policy rule, named in one dict. A rule is a module: ID, DESCRIPTION, DEFAULT, SCHEMA, check()."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from sealer.config import Environment
from sealer.policy.model import Context, Problem
from sealer.policy.rules import (
    backend,
    cert_distinct,
    cert_expiry,
    cert_file,
    cert_strength,
    grace_window,
    key_age,
    key_distinct,
    key_ledger,
    key_present,
    key_registry,
    key_sealed,
    namespace,
    scope,
    values_file,
)
from sealer.policy.schema import Validator


class Rule(Protocol):
    ID: str
    DESCRIPTION: str
    DEFAULT: dict[str, Any]  # the rule's own options (every rule also takes `enabled` and `level`)
    SCHEMA: dict[str, Validator]  # option -> validator; an option missing here is rejected

    def check(self, ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]: ...


# In report order: what the environment is configured with first, then its keys.
_ALL: tuple[Rule, ...] = (
    cert_file,
    cert_strength,
    cert_expiry,
    cert_distinct,
    scope,
    namespace,
    backend,
    key_present,
    key_sealed,
    key_ledger,
    key_registry,
    key_age,
    grace_window,
    key_distinct,
    values_file,
)
RULES: dict[str, Rule] = {rule.ID: rule for rule in _ALL}
# What a rule leaves to others: where it cannot look (a certificate it cannot read, an entry with
# no current ledger record, a key of an entry sealer.yaml does not list), another rule reports it.
# A --policy file locking a rule locks these too: else sealer.yaml turning one off would let the
# locked rule pass what it never examined.
RELIES_ON: dict[str, tuple[str, ...]] = {
    cert_strength.ID: (cert_file.ID,),
    cert_expiry.ID: (cert_file.ID,),
    cert_distinct.ID: (cert_file.ID,),  # an unreadable file's public key is compared with none
    key_present.ID: (cert_file.ID,),  # an environment pinning no cluster has nothing to seal for
    key_sealed.ID: (key_present.ID, key_ledger.ID, cert_file.ID, cert_strength.ID),  # a key not RSA
    key_age.ID: (key_ledger.ID,),
    values_file.ID: (key_present.ID,),
}


def relied_on(rule_id: str) -> tuple[str, ...]:
    """The rules `rule_id` relies on, and those they rely on in turn, in report order."""
    found: set[str] = set()
    todo = [rule_id]
    while todo:
        for other in RELIES_ON.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return tuple(rule for rule in RULES if rule in found)


def descriptions() -> dict[str, str]:
    """Rule id -> what the rule asks for, in report order (`sealer check --list-rules`)."""
    return {rule.ID: rule.DESCRIPTION for rule in _ALL}
