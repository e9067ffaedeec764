"""Findings as text for people, a JSON list for pipelines, or SARIF 2.1.0 for code-scanning pages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sealer import __version__
from sealer.apikey import redact
from sealer.scan.findings import Finding
from sealer.scan.k8s_secret import CONTROLLER_KEY_ADVICE
from sealer.scan.rules import Policy
from sealer.terminal import one_line

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "sealerFingerprint/v1"
NOT_A_SECRET_HINT = (
    "If a finding is not a secret, add a `sealer: allow` comment on its line, or accept it with "
    "`sealer scan --baseline FILE --update-baseline`."
)
HINT = f"Seal secrets instead of committing them (`sealer seal`, `sealer render`). {NOT_A_SECRET_HINT}"
# Private keys (a controller's tls.key above all) are never sealed into the repo: they open it.
PRIVATE_KEY_HINT = (
    "A private key (such as a controller's tls.key or sealed-secrets-key.yaml) does not belong in the "
    "repository, sealed or not: move it out, back it up (`sealer keypair --backup`), keep it git-ignored."
)
PRIVATE_KEY_RULES = ("private-key", "gcp-service-account-key")
# `--commit-msg`: neither sealing nor a baseline (refused there) fits a message, which Git would
# keep in its history for good; what the user wrote is still in the file git handed the hook.
MESSAGE_HINT = (
    "A secret in a commit message cannot be sealed, and the message would stay in Git's history: "
    "take it out of the message and commit again (what you wrote is kept in {path})."
)


def text(found: Sequence[Finding], scanned: int, unexamined: int = 0, message: bool = False) -> str:
    """The findings, a summary line and the advice that fits: `message` when the one file scanned
    is a commit message (`--commit-msg`)."""
    if not found:
        if unexamined:
            return f"sealer scan: no plaintext secrets in {scanned} file(s) examined\n"
        return f"sealer scan: no plaintext secrets in {scanned} file(s)\n"
    lines = [_text_line(f) for f in found]
    if message:
        summary = f"sealer scan: {len(found)} finding(s) in the commit message — it must not hold secrets."
        return "\n".join([*lines, summary, shown(MESSAGE_HINT.format(path=found[0].path))]) + "\n"
    files = len({f.path for f in found})
    lines.append(
        f"sealer scan: {len(found)} finding(s) in {files} file(s) — plaintext secrets must not be committed."
    )
    private = [_never_sealed(f) for f in found]
    if any(private):
        lines.append(PRIVATE_KEY_HINT)
    lines.append(NOT_A_SECRET_HINT if all(private) else HINT)  # a private key is never to be sealed
    return "\n".join(lines) + "\n"


def _never_sealed(f: Finding) -> bool:
    """A private key, or a controller's key Secret: moved out of the repository, never sealed."""
    return f.rule in PRIVATE_KEY_RULES or f.note.endswith(CONTROLLER_KEY_ADVICE)


def shown(text: str) -> str:
    """A line for a log naming files: inert, and a sealer key a file's name holds redacted (the
    finding masks the key it found; its path showed it whole)."""
    return redact(one_line(text))


def _text_line(f: Finding) -> str:
    where = f" ({f.note})" if f.note else ""
    where += f" (commit {f.commit[:12]})" if f.commit else ""
    return shown(f"{f.path}:{f.line}:{f.column}: {f.severity}: {f.rule}: {f.description}{where}: {f.preview}")


def unexamined_line(files: Sequence[tuple[str, str]]) -> str:
    """One line naming every file that could not be examined, and why."""
    named = "; ".join(shown(f"{path} ({reason})") for path, reason in files)
    return f"sealer scan: {len(files)} file(s) could not be examined, so the scan fails: {named}"


_ONE_LINE = json.JSONEncoder(ensure_ascii=False)  # what json.dumps builds anew on every call


def as_json(found: Sequence[Finding]) -> str:
    """A JSON list, one finding per line (json's C encoder: indent= would use the slow one); a
    sealer key a path holds redacted as in the text (JSON shows a key's characters as they are)."""
    if not found:
        return "[]\n"
    return redact("[\n" + ",\n".join(_ONE_LINE.encode(f.as_dict()) for f in found) + "\n]\n")


def sarif(found: Sequence[Finding], policy: Policy) -> str:
    index = {rule.id: i for i, rule in enumerate(policy.rules)}
    rules = [
        {
            "id": rule.id,
            "name": _pascal(rule.id),
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": rule.severity},
        }
        for rule in policy.rules
    ]
    driver = {"name": "sealer", "version": __version__, "rules": rules}
    results = [_result(f, index.get(f.rule)) for f in found]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}],
    }
    return redact(json.dumps(log, indent=2, ensure_ascii=False)) + "\n"


def _result(f: Finding, rule_index: int | None) -> dict[str, Any]:
    from urllib.parse import quote

    # A key a path holds is redacted before the path becomes a URI: `[` `]` percent-encoded there.
    message = f"{f.description}{f' ({f.note})' if f.note else ''}: {f.preview}"
    if f.commit:
        message += f" (commit {f.commit})"
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": f.severity,
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(redact(f.path)), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
    }
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    if f.commit:
        result["properties"] = {"commit": f.commit}
    return result


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))
