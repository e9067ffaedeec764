"""`sealer render ENV`: write the `sealer:` subtree of each cluster's Helm values file.

Only that subtree changes; the user's other values and comments survive (ruamel round trip).
The same state always gives byte-identical files, so re-rendering is a no-op in Git.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sealer import cert_pins, ledger, provenance, registry, repofiles, state, templating, yamlio
from sealer.config import Cluster, Config, Environment
from sealer.errors import BadInput
from sealer.records import KeyRecord, iso

SUBTREE = "sealer"
_COMMENT_LINE = re.compile(r"\s*(#.*)?|---(\s+#.*)?")


def checksum(records: dict[str, KeyRecord]) -> str:
    """Changes whenever a key changes: the chart puts it on the pod template so pods roll."""
    ids = json.dumps({name: r.key_id for name, r in sorted(records.items())}, sort_keys=True)
    return hashlib.sha256(ids.encode()).hexdigest()


def subtree_text(
    env: Environment, cluster: Cluster, sealed_doc: dict[str, Any], records: dict[str, KeyRecord]
) -> str:
    encrypted = state.encrypted_data(sealed_doc)
    annotations = (sealed_doc.get("metadata") or {}).get("annotations") or {}
    main_fp = str(annotations.get(provenance.CERT_ANNOTATION, ""))
    return templating.render(
        "values.sealer.yaml.j2",
        env=env,
        cluster=cluster,
        cert_fingerprint=main_fp,
        encrypted={name: encrypted[name] for name in env.keys if name in encrypted},
        records=records,
        checksum=checksum(records),
        iso=iso,
    )


def render_values(values_text: str | None, subtree: str, source: str) -> str:
    """The values file with its `sealer:` key replaced, everything else as the user wrote it."""
    spliced = splice_values(values_text, subtree) if values_text else None
    if spliced is not None:
        return spliced
    doc = yamlio.round_trip_load(values_text, source) if values_text and values_text.strip() else None
    if doc is None:  # an empty file, or only comments: keep them above the new mapping
        doc = yamlio.round_trip_load(_comment_lines(values_text or "") + "{}\n", source)
        doc.fa.set_block_style()
    if not hasattr(doc, "items"):
        raise BadInput(f"{source}: a values file must be a YAML mapping")
    new = yamlio.round_trip_load(subtree, "rendered values")
    _move_following_comment(doc, new)
    doc[SUBTREE] = new
    return yamlio.round_trip_dump(doc)


_SUBTREE_LINE = re.compile(rf"{SUBTREE}:[ \t]*(#.*)?\n")


def splice_values(values_text: str, subtree: str) -> str | None:
    """The fast path for a file that has a block-style `sealer:` key already (its lines swapped
    for the rendered subtree, indented as ruamel would) or none yet (the subtree appended);
    None when the file is not that simple. A ruamel round trip costs ~50 ms a file, most of a
    100-environment rotation; this checks its result with the fast loader instead, so any file
    it cannot handle takes the slow path."""
    lines = values_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _SUBTREE_LINE.fullmatch(line)]
    body = _indented(subtree, yamlio.guess_indent(values_text)[0])
    if "\r" in values_text or len(starts) > 1 or body is None:
        return None
    if not starts:  # a first rendering: the file must end its last line and hold no `sealer` key
        text = f"{values_text}{SUBTREE}:\n{body}"
        return text if values_text.endswith("\n") and _same_values(text, values_text, subtree, True) else None
    start = end = starts[0]
    for index in range(start + 1, len(lines)):
        if lines[index].strip() and not lines[index].startswith(" "):
            break
        if lines[index].strip() and not lines[index].lstrip().startswith("#"):
            end = index
    text = "".join([*lines[: start + 1], body, *lines[end + 1 :]])
    return text if _same_values(text, values_text, subtree, False) else None


def _indented(subtree: str, indent: int) -> str | None:
    """The subtree's lines one level under `sealer:` (the template indents by two)."""
    body = []
    for line in subtree.splitlines(keepends=True):
        depth = len(line) - len(line.lstrip(" "))
        if depth % 2 or not line.strip():
            return None
        body.append(" " * (indent * (depth // 2 + 1)) + line.lstrip(" "))
    return "".join(body)


def _same_values(text: str, old_text: str, subtree: str, appended: bool) -> bool:
    try:
        new, old, sub = (yamlio.load_documents(t, "values") for t in (text, old_text, subtree))
    except BadInput:
        return False
    if len(new) != 1 or len(old) != 1 or len(sub) != 1 or not isinstance(old[0], dict):
        return False
    if appended and SUBTREE in old[0]:
        return False  # written some other way (flow style, quoted): appending would repeat the key
    return bool(new[0] == {**old[0], SUBTREE: sub[0]})


def _comment_lines(text: str) -> str:
    kept = [line for line in text.splitlines() if _COMMENT_LINE.fullmatch(line)]
    return "".join(f"{line}\n" for line in kept)


def _move_following_comment(doc: Any, new: Any) -> None:
    """Keep the user's comments below the old subtree: ruamel files them under its last entry."""
    source = yamlio.last_comment_slot(doc[SUBTREE]) if SUBTREE in doc else None
    if source is None and SUBTREE in doc:
        source = (doc, SUBTREE, 2)  # a scalar or empty `sealer:` keeps them on its own key
    yamlio.move_following_comment(source, new)


def values_text(
    root: Path,
    env: Environment,
    cluster: Cluster,
    sealed_doc: dict[str, Any] | None,
    records: list[KeyRecord],
) -> tuple[str, str | None]:
    """(new text, old text or None) of the cluster's values file for this sealed state."""
    if sealed_doc is None:
        raise BadInput(f"no sealed keys for {env.name}/{cluster.name} yet: run `sealer rotate {env.name}`")
    path = root / cluster.values_file
    old = repofiles.read_text_if_exists(path)
    subtree = subtree_text(env, cluster, sealed_doc, ledger.current(env.keys, records))
    return render_values(old, subtree, str(path)), old


def _write_changed(path: Path, new: str, old: str | None) -> Path | None:
    if new == old:
        return None
    repofiles.write(path, new)  # makes the folders, never through a symlink
    return path


def render_env(cfg: Config, env_name: str) -> list[Path]:
    """Re-render every values file of the environment; all are computed before any is written."""
    env = cfg.env(env_name)
    cert_pins.pinned_certificates(cfg.root, env)
    records = ledger.load(cfg.root, env.name)
    texts = [
        (c, values_text(cfg.root, env, c, state.load(cfg.root, env.name, c.name), records))
        for c in env.clusters
    ]
    changed = [_write_changed(cfg.root / c.values_file, new, old) for c, (new, old) in texts]
    changed += [_write_changed(path, new, old) for path, new, old in registry_texts(cfg.root, env, records)]
    return [p for p in changed if p is not None]


def registry_texts(
    root: Path, env: Environment, records: list[KeyRecord]
) -> list[tuple[Path, str, str | None]]:
    """#16: (path, text the ledger gives, text on disk) of each GitOps key registry of `env`."""
    made = registry.files(env.name, [c.name for c in env.clusters], env.registry, records)
    return [
        (root / rel, data.decode(), repofiles.read_text_if_exists(root / rel)) for rel, data in made.items()
    ]
