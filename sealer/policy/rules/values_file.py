"""values-file: each values file sealer renders is a regular file reached without a symlink,
holding YAML sealer can read (UTF-8, no alias bomb, not nested too deep).

sealer never reads or writes through a symlink (a pull request could point one at a runner's
credentials), so a values file or folder replaced by one stops `render` and `rotate`; this says
so before they run. A values file that does not exist yet is fine: `render` creates it.

The chart builds its SealedSecret from the values file's `sealer.encryptedData`, not from
sealed/: each value there must be the sealed file's (which `key-sealed` ties to the ledger's
current key), or an older ciphertext put back in the values file alone would be delivered.
So with the subtree's secretName, namespace and scope: they name and bind the SealedSecret the
chart renders (a strict ciphertext under another scope's annotation is one the controller
cannot open), so each must be the sealed file's. What Helm reads is checked: its one document,
with no merge key (`<<`) that Helm and sealer's reader could resolve into two subtrees. And what
sealer's editor refuses is refused here: an empty document at the end (`yamlio.trailing_empty`),
which Helm skips, stops the next rotation, so the pre-commit hook stops the commit adding it;
so does any other text sealer reads but its editor refuses (`render.editor_refusal`: a blank
line holding a tab, which ruamel refuses, or text it would write back otherwise).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator, Mapping
from typing import Any

from sealer import layout, render, repofiles, safeopen, state, yamlio
from sealer.config import Cluster, Environment
from sealer.errors import BadInput
from sealer.policy import schema
from sealer.policy.model import ERROR, Context, Problem
from sealer.scope import scope_of

ID = "values-file"
DESCRIPTION = (
    "every values file is a regular file reached without a symlink, holding YAML sealer reads and "
    "edits, and the sealed files' ciphertexts, Secret name, namespace and scope"
)
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    # With no cluster yet, the environment's own values file: Helm reads it, and the first
    # rotation after `cert add` edits it (nothing is sealed into it before then).
    files: list[tuple[str, Cluster | None]] = [(c.values_file, c) for c in env.clusters]
    files = files or [(env.values_file, None)]
    for rel, cluster in files:
        path = ctx.root / rel
        try:
            text = repofiles.read_text(path)
        except FileNotFoundError:
            continue
        except BadInput as err:  # a symlink, a folder, too large, not UTF-8
            yield Problem(ID, env.name, ERROR, str(err), _unread_fix(rel, str(err)))
            continue
        try:
            docs = yamlio.load_with_nodes(text, str(path), empty=True)  # every one: as the editor counts
        except BadInput as err:
            yield _not_yaml(env, rel, text, err)
            continue
        unlike_helm = _read_unlike_helm(env, rel, text, docs)
        if unlike_helm is not None:
            yield unlike_helm
            continue
        refused = render.editor_refusal(text, rel)
        if refused is not None:
            yield _not_editable(env, rel, refused)
            continue
        if cluster is not None:
            values = docs[0].value if docs else {}  # one document here (`_read_unlike_helm`)
            found = list(_ciphertexts(ctx, env, cluster, values))
            yield from found or _bound(ctx, env, cluster, values)


def _unread_fix(rel: str, why: str) -> str:
    """The fix of a values file that cannot be read (`why`), by its cause, which ends the message:
    the path before it may name a folder `symlink` or `UTF-8`."""
    if why.endswith(safeopen.describe(stat.S_IFLNK) or ""):
        return f"replace {rel} with a regular YAML file (sealer never follows symlinks)"
    if _NOT_UTF8.search(why):
        return f"save {rel} as UTF-8 text"
    return f"replace {rel} with a regular YAML file"


_NOT_UTF8 = re.compile(r": not valid UTF-8 text \(byte \d+\)\Z")  # safeopen.decode's


# The lines a merge leaves around each side of a conflict it could not resolve (git, and diff3's).
_CONFLICT = re.compile(r"^(<{7}|>{7})(?: |$)", re.MULTILINE)


def _not_yaml(env: Environment, rel: str, text: str, err: BadInput) -> Problem:
    """A values file that is no YAML sealer reads: a merge left unresolved (conflict markers on
    both sides) is resolved, not replaced; any other is corrected where the message points."""
    if {found[1] for found in _CONFLICT.finditer(text)} == {"<" * 7, ">" * 7}:
        message = f"{err} (it holds merge conflict markers: a merge left unresolved)"
        fix = f"resolve the merge conflict in {rel} (its <<<<<<<, ======= and >>>>>>> lines), then git add it"
        return Problem(ID, env.name, ERROR, message, fix)
    return Problem(ID, env.name, ERROR, str(err), f"correct the YAML in {rel} where the message says")


def _not_editable(env: Environment, rel: str, refused: BadInput) -> Problem:
    """A values file sealer reads but its editor refuses: `render` and `rotate` would stop on it."""
    why = str(refused).removeprefix(f"{rel}: ")
    message = f"{rel}: sealer's editor refuses it, so `sealer rotate {env.name}` would stop on it: {why}"
    fix = (
        f"rewrite the odd text in {rel} as plain YAML where the message says"
        " (a tab on a blank line: delete it)"
    )
    return Problem(ID, env.name, ERROR, message, fix)


def _read_unlike_helm(env: Environment, path: str, text: str, docs: list[yamlio.Document]) -> Problem | None:
    """A values file Helm could read otherwise than this rule: several documents (Helm takes the
    first, even an empty one), or a merge key (`<<`) giving sealer's keys (Helm lets a later one
    win over a written key, PyYAML the written key). What is checked must be what is delivered."""
    helm = render.helm_read(docs)
    if len(helm) > 1:
        message = f"{path} holds {len(helm)} YAML documents: Helm reads the first alone"
        return Problem(ID, env.name, ERROR, message, f"keep one YAML document in {path}")
    if yamlio.trailing_empty(docs):  # harmless to Helm, but the next rotation may stop on it
        message = (
            f"{path} {yamlio.TRAILING_EMPTY}: sealer's editor reads it as a second document and "
            f"refuses the file ({yamlio.SEVERAL_DOCUMENTS}), so `sealer rotate` may stop on it"
        )
        return Problem(ID, env.name, ERROR, message, f"delete the last `---` line of {path}")
    if render.merged_subtree(text, path):
        message = (
            f"a merge key (`<<`) gives `sealer` or a key below it in {path}: "
            "Helm may deliver another subtree than the one checked"
        )
        return Problem(ID, env.name, ERROR, message, f"remove that `<<`, then sealer render {env.name}")
    return None


def _subtree(values: Any) -> Any:
    return values.get(render.SUBTREE) if isinstance(values, dict) else None


def _ciphertexts(ctx: Context, env: Environment, cluster: Cluster, values: Any) -> Iterator[Problem]:
    """Each entry the sealed file holds is the values file's too, the same ciphertext."""
    doc = ctx.sealed(env.name, cluster.name)
    if doc is None:
        return  # nothing rendered yet, or key-present reports it
    shown = state.values_encrypted(_subtree(values))
    sealed = state.encrypted_data(doc)
    path = layout.sealed_file(env.name, cluster.name)
    for name in sorted(env.keys):
        if name in sealed and shown.get(name) != str(sealed[name]):
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"sealer.encryptedData.{name} in {cluster.values_file} is not {path}'s ciphertext: "
                "the chart delivers the values file's",
                f"sealer render {env.name}",
            )


def _bound(ctx: Context, env: Environment, cluster: Cluster, values: Any) -> Iterator[Problem]:
    """The Secret's name, namespace and scope in the `sealer:` subtree are the sealed file's, to
    which its ciphertexts are bound (a hand edit of `scope:` is delivered as it stands), where
    the sealed file's are sealer.yaml's: then `sealer render` puts them back."""
    doc, have = ctx.sealed(env.name, cluster.name), _subtree(values)
    if doc is None or not isinstance(have, dict):
        return  # nothing rendered yet (key-present), or no subtree at all (reported above)
    found = doc.get("metadata")
    meta = found if isinstance(found, dict) else {}
    sealed = {
        "secretName": meta.get("name"),
        "namespace": meta.get("namespace"),
        "scope": scope_of(state.annotations_of(doc)).value,
    }
    configured = {"secretName": env.secret_name, "namespace": env.namespace, "scope": env.scope.value}
    path = layout.sealed_file(env.name, cluster.name)
    for key, value in sealed.items():  # a sealed file unlike sealer.yaml is key-sealed's, fixed by rotating
        if value == configured[key] and have.get(key) != value:
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"sealer.{key} in {cluster.values_file} is not {path}'s: "
                "the chart delivers the values file's",
                f"sealer render {env.name}",
            )
