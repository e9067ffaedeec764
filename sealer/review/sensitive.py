"""Sensitive changes: what may weaken a key without touching a key, so a person outside the
pull request's author must approve it (see sealer.review.approvals).

Compared between two versions of sealer.yaml (BASE and HEAD, and each commit of the range with
its parent), and by path for the files that steer sealer and its gate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any

from sealer import layout, resources, yamlio
from sealer.config import Cluster, Config, Environment
from sealer.errors import SealerError
from sealer.review.model import (
    CONTEXT_CHANGE,
    DELIVERY_CHANGE,
    ENV_ADDED,
    ENV_REMOVED,
    KEYS_CHANGE,
    NAME_CHANGE,
    NAMESPACE_CHANGE,
    PERIOD_CHANGE,
    PIN_CHANGE,
    POLICY_OVERRIDE,
    SCOPE_CHANGE,
    STORE_CHANGE,
    TRUST_ANCHOR,
    VALUES_FILE_CHANGE,
    Finding,
)

ReadDoc = Callable[[str], Mapping[str, Any] | None]  # a file's parsed document at one revision

# Files that steer sealer, its hooks and its gate: any change is a trust-anchor change.
GATE_FILES = (
    ".sealer/*",
    "CODEOWNERS",
    ".github/CODEOWNERS",
    ".gitlab/CODEOWNERS",
    ".gitea/CODEOWNERS",
    ".forgejo/CODEOWNERS",
    "docs/CODEOWNERS",
    layout.PRE_COMMIT_CONFIG,
    "*.gitattributes",
    ".gitattributes",
    ".gitmodules",  # where a checkout that follows submodules fetches their files from
    "*.argocd-source*.yaml",  # Argo CD's parameter overrides (Helm parameters over every values file)
    ".github/workflows/*",
    ".gitea/workflows/*",  # Gitea and Forgejo Actions
    ".forgejo/workflows/*",
    ".gitlab-ci.yml",
    ".gitlab/ci/*",
)


def gate_file(path: str) -> bool:
    return not path.startswith(layout.OUT_DIR + "/") and any(fnmatch.fnmatchcase(path, g) for g in GATE_FILES)


def shown(path: str) -> str:
    """A path as a reviewer must read it: a lookalike letter (Cyrillic `е` for `e`) escaped, so a
    values file moved to `valuеs.yaml` does not read as no change at all."""
    return path.encode("ascii", "backslashreplace").decode()


def _finding(code: str, env: str, message: str) -> Finding:
    return Finding(code, env, layout.CONFIG_FILE, None, message)


def _target(old: Environment, new: Environment) -> Iterator[Finding]:
    for code, what, was, now in (
        (NAME_CHANGE, "secretName", old.secret_name, new.secret_name),
        (NAMESPACE_CHANGE, "namespace", old.namespace, new.namespace),
        (SCOPE_CHANGE, "scope", old.scope.value, new.scope.value),
    ):
        if was != now:
            yield _finding(code, new.name, f"{what} changed from {was} to {now}")


def _pins(old: Environment, new: Environment) -> Iterator[Finding]:
    before = {c.name: c for c in old.clusters}
    after = {c.name: c for c in new.clusters}
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if was is None or now is None:
            what = "added" if was is None else "removed"
            yield _finding(PIN_CHANGE, new.name, f"cluster {name} {what}: verify its certificate out of band")
            continue
        if (was.fingerprint, was.cert) != (now.fingerprint, now.cert):
            yield _finding(
                PIN_CHANGE,
                new.name,
                f"{name}: sealing certificate (sealWith) changed from {was.fingerprint[:16]}… "
                f"({shown(was.cert)}) to {now.fingerprint[:16]}… ({shown(now.cert)}): verify the new "
                "certificate out of band",
            )
        if was.values_file != now.values_file:
            yield _finding(
                VALUES_FILE_CHANGE,
                new.name,
                f"{name}: values file {shown(was.values_file)} -> {shown(now.values_file)}",
            )
        yield from _added_dates(new.name, was, now)
    if old.cert_history != new.cert_history:
        yield _finding(PIN_CHANGE, new.name, "certHistory changed")


def _added_dates(env: str, was: Cluster, now: Cluster) -> Iterator[Finding]:
    """A certificate's `added` day starts the resealAfterDays clock of entries sealed with older
    ones; sealer writes it once, so a later day (or none) only postpones their reseal."""
    for held in now.cert_set:
        before = was.held_cert(held.fingerprint)
        if before and before.added and (held.added is None or held.added > before.added):
            yield _finding(
                PERIOD_CHANGE,
                env,
                f"{now.name}: certificate {held.fingerprint[:16]}… added {before.added}, now "
                f"{held.added or 'undated'}: entries on older certificates are due for resealing later",
            )


def _settings(old: Environment, new: Environment) -> Iterator[Finding]:
    if (old.backend_kind, old.backend_options) != (new.backend_kind, new.backend_options):
        yield _finding(
            STORE_CHANGE,
            new.name,
            f"key store changed from {old.backend_kind} {old.backend_options} to "
            f"{new.backend_kind} {new.backend_options}: keys revoked in one store may verify in another",
        )
    if old.backend_credentials != new.backend_credentials:  # names only: never echo the values
        names = sorted(set(old.backend_credentials) | set(new.backend_credentials))
        changed = [n for n in names if old.backend_credentials.get(n) != new.backend_credentials.get(n)]
        yield _finding(
            STORE_CHANGE,
            new.name,
            f"key store credential source changed ({', '.join(changed)}): another store, account or "
            "variable may answer for this environment",
        )
    for what, was, now in (
        ("rotationDays", old.rotation_days, new.rotation_days),
        ("keyLifetimeDays", old.key_lifetime_days, new.key_lifetime_days),
    ):
        if now > was:
            yield _finding(PERIOD_CHANGE, new.name, f"{what} lengthened from {was} to {now}")
    was_reseal, now_reseal = old.reseal_after_days, new.reseal_after_days
    if was_reseal is not None and (now_reseal is None or now_reseal > was_reseal):
        yield _finding(
            PERIOD_CHANGE,
            new.name,
            f"resealAfterDays lengthened from {was_reseal} to {now_reseal or 'never'}",
        )
    if old.values_file != new.values_file:
        yield _finding(
            VALUES_FILE_CHANGE, new.name, f"valuesFile {shown(old.values_file)} -> {shown(new.values_file)}"
        )
    if old.policy != new.policy:
        yield _finding(POLICY_OVERRIDE, new.name, "policy overrides for `sealer check` changed")
    dropped = [k for k in old.keys if k not in new.keys]
    if dropped:
        yield _finding(KEYS_CHANGE, new.name, f"no longer rotates {', '.join(dropped)}")
    added = [k for k in new.keys if k not in old.keys]
    if added:  # a key more that the cluster accepts, its first one made by the change itself
        yield _finding(KEYS_CHANGE, new.name, f"now also issues keys for {', '.join(added)}")


def _contexts(old: Environment, new: Environment) -> Iterator[Finding]:
    """#17: `rotate --finish` trusts what each context serves: a context moved, dropped or shared
    decides which cluster's word counts. Context values are not echoed (a pasted token may hide there)."""
    for name in sorted(set(old.cluster_contexts) | set(new.cluster_contexts)):
        was, now = old.cluster_contexts.get(name), new.cluster_contexts.get(name)
        if was != now:
            what = "added" if was is None else "removed" if now is None else "changed"
            yield _finding(
                CONTEXT_CHANGE,
                new.name,
                f"clusterContexts: {name}'s kubeconfig context {what}: status and rotate --finish "
                "now read another cluster for it",
            )


def config_findings(old: Config | None, new: Config | None) -> list[Finding]:
    """Every sensitive difference between two versions of sealer.yaml."""
    before = old.environments if old else {}
    after = new.environments if new else {}
    found: list[Finding] = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if was is None:
            found.append(
                _finding(
                    ENV_ADDED, name, f"environment {name} added (namespace {now.namespace if now else '?'})"
                )
            )
        elif now is None:
            found.append(_finding(ENV_REMOVED, name, f"environment {name} removed"))
        elif was != now:
            found += [*_target(was, now), *_pins(was, now), *_settings(was, now), *_contexts(was, now)]
    return found


@cache
def _chart_key_defaults() -> dict[str, Any]:
    """The chart's own `apiKey:` values (envName, secretKey): what a values file leaving them out gets."""
    text = (resources.chart() / "values.yaml").read_bytes()
    return dict(yamlio.load_documents(text, "the chart's values.yaml")[0]["apiKey"])


def _key_source(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """The chart values that decide which Secret and entry the Deployment reads its API key from
    (chart/templates/deployment.yaml): `existingSecret`, `apiKey`, and any `extraEnv` entry
    that sets the key's variable again (the last one of a name wins)."""
    doc = doc or {}
    api = doc.get("apiKey", {})
    if isinstance(api, dict):
        api = {**_chart_key_defaults(), **api}
    name = api.get("envName") if isinstance(api, dict) else None
    extra = doc.get("extraEnv")
    if isinstance(extra, list):
        extra = [e for e in extra if not isinstance(e, dict) or e.get("name") == name]
    return {"existingSecret": doc.get("existingSecret") or None, "apiKey": api, "extraEnv": extra or None}


def delivery_findings(
    old: Environment | None, new: Environment | None, base_doc: ReadDoc, head_doc: ReadDoc
) -> Iterator[Finding]:
    """A values file whose chart settings now read the API key from another Secret, entry or
    variable: the cluster would run a key sealer never sealed (or none), with no key changed.
    `base_doc`, `head_doc`: a values file's parsed document at BASE and at HEAD."""
    if old is None or new is None:
        return  # a new or removed environment is a finding of its own
    before = {c.name: c for c in old.clusters}
    for cluster in new.clusters:
        was = before.get(cluster.name)
        if was is None:
            continue  # a new cluster is a pin-change
        then, now = _key_source(base_doc(was.values_file)), _key_source(head_doc(cluster.values_file))
        changed = [k for k in now if then[k] != now[k]]
        if changed:
            yield Finding(
                DELIVERY_CHANGE,
                new.name,
                cluster.values_file,
                None,
                f"{cluster.name}: {', '.join(changed)} changed: the Deployment may read its API key from "
                "a Secret, entry or variable sealer does not manage",
            )


_KEY_SETTINGS = ("existingsecret", "apikey", "extraenv")  # casefolded names of `_key_source`'s settings


def _source_in(text: str | None, path: str) -> dict[str, Any]:
    """`_key_source` of a values file's text; an unreadable one that names a key setting is a
    source of its own (Helm's reader may take what sealer's refuses, a key given twice say)."""
    try:
        docs = yamlio.load_documents(text, path) if text is not None else []
    except SealerError:
        named = any(name in (text or "").casefold() for name in _KEY_SETTINGS)
        return {"readable YAML": False} if named else _key_source(None)
    return _key_source(docs[0] if docs and isinstance(docs[0], dict) else None)


def beside_values_finding(
    path: str, managed: str, env: str, old: str | None, new: str | None
) -> Finding | None:
    """A values file sealer does not manage, in the folder of `managed`, one it does (say
    values-common.yaml beside values.yaml): an Argo CD application or a HelmRelease may list it
    after sealer's, and Helm's later file wins, so its key settings count as sealer's own."""
    then, now = _source_in(old, path), _source_in(new, path)
    changed = [key for key in {**then, **now} if then.get(key) != now.get(key)]
    if not changed:
        return None
    return Finding(
        DELIVERY_CHANGE,
        env,
        path,
        None,
        f"{', '.join(changed)} changed beside {managed}: listed after it, the Deployment may read its "
        "API key from a Secret, entry or variable sealer does not manage",
    )


def submodule_finding(path: str) -> Finding:
    return Finding(
        TRUST_ANCHOR,
        "",
        path,
        None,
        f"{path} is a submodule: Argo CD checks submodules out, and what they hold comes from "
        "another repository, unreviewed: a code owner must approve",
    )


def gate_finding(path: str) -> Finding:
    return Finding(
        TRUST_ANCHOR,
        "",
        path,
        None,
        f"{path} steers sealer, its hooks or its review gate: a code owner must approve",
    )
