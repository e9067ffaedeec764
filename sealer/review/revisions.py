"""Reading a revision from Git: the files, sealer.yaml and ledgers as they were then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import config, git, layout, ledger, repofiles, safeopen, state, yamlio
from sealer.config import Config, Environment
from sealer.errors import BadInput, GitError, SealerError
from sealer.records import ACTIVE, PENDING, KeyRecord
from sealer.review import model
from sealer.review.model import (
    MAIN_BRANCHES,
)


def resolve(root: Path, rev: str) -> str:
    commit = git.resolve_commit(root, rev)
    if commit is None:
        git.git_dir(root)  # no repository git will read here (a bare one in the way): its words
        raise BadInput(f"unknown revision {rev!r}")
    return commit


def default_base(root: Path) -> str:
    """The merge-base of HEAD with the main branch (main, else master, else origin/HEAD)."""
    for ref in MAIN_BRANCHES:
        if git.ref_exists(root, ref):
            try:
                return git.run(root, "merge-base", "HEAD", ref).strip()
            except GitError:
                raise BadInput(f"HEAD shares no history with {ref}: give BASE") from None
    raise BadInput("no main, master or origin/HEAD to compare with: give BASE (e.g. `sealer review HEAD~1`)")


def read_files(root: Path, rev: str, paths: Iterable[str]) -> dict[str, str | None]:
    """path -> text at `rev` (None when absent), through one `git cat-file --batch`. A name
    holding a line break is never asked (None): git reads one name a line, so its second line
    would be a name of the author's choosing (any blob's id) and each later path would get the
    answer meant for the one before it. `core` reports such a name (LINE_BREAK)."""
    asked = sorted(set(paths))
    wanted = [p for p in asked if "\n" not in p]
    if not wanted:
        return dict.fromkeys(asked)
    _check_sizes(root, rev, wanted)
    out = git.run_bytes(
        root, git.NO_REPLACE, "cat-file", "--batch", stdin="".join(f"{rev}:{p}\n" for p in wanted).encode()
    )
    pos = 0
    result: dict[str, str | None] = dict.fromkeys(asked)
    for path in wanted:
        end = out.index(b"\n", pos)
        header, pos = out[pos:end].decode(errors="replace"), end + 1
        parts = header.rsplit(" ", 2)
        if len(parts) != 3 or not parts[2].isdigit():  # "<rev:path> missing"
            result[path] = None
            continue
        size = int(parts[2])
        blob = out[pos : pos + size]
        result[path] = safeopen.decode(blob, f"{rev[:12]}:{path}") if parts[1] == "blob" else None
        pos += size + 1
    return result


def _check_sizes(root: Path, rev: str, paths: list[str]) -> None:
    """#13: sealer's own files are bounded in Git as on disk (repofiles.MAX_BYTES), and all of
    them together (model.MAX_TOTAL_BYTES); asked before the blobs are read, so neither a huge
    one nor thousands of them ever reach memory."""
    query = "".join(f"{rev}:{p}\n" for p in paths).encode()
    answer = git.run_bytes(
        root, git.NO_REPLACE, "cat-file", "--batch-check=%(objectsize)", stdin=query
    ).decode(errors="replace")
    total = 0
    for path, line in zip(paths, answer.splitlines(), strict=False):
        if line.isdigit() and int(line) > repofiles.MAX_BYTES:
            raise BadInput(f"{rev[:12]}:{path}: larger than the limit of {repofiles.MAX_BYTES} bytes")
        total += int(line) if line.isdigit() else 0
    if total > model.MAX_TOTAL_BYTES:
        raise BadInput(
            f"{rev[:12]}: the {len(paths)} files review reads there hold {total} bytes, more than "
            f"the limit of {model.MAX_TOTAL_BYTES} bytes together"
        )


def changed_paths(root: Path, base: str, head: str) -> tuple[list[str], list[str]]:
    """(every path that differs, those of them whose name is not UTF-8, escaped), NUL-separated:
    a line per path came C-quoted (`"sealed/\\303…"`) for a name with a non-ASCII byte, a quote or
    a newline, and no check matched it."""
    out = git.run_bytes(
        root,
        git.NO_REPLACE,
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--name-only",
        "-z",
        "--no-renames",
        base,
        head,
    )
    paths, not_utf8 = [], []
    for raw in filter(None, out.split(b"\0")):
        try:
            paths.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            not_utf8.append(raw.decode("utf-8", "backslashreplace"))
    return paths, not_utf8


def tree_modes(root: Path, rev: str, *dirs: str) -> dict[str, str]:
    """path -> mode of every path `rev` holds under `dirs` (a symlink's and a submodule's too); a
    name that is not UTF-8 escaped as `changed_paths` escapes it (the same name in both, and a
    managed path in neither)."""
    entries = git.ls_tree(root, rev, "-r", paths=dirs, decode=_escaped)
    return {path: mode for path, (mode, _) in entries.items()}


def _escaped(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def commit_time(root: Path, rev: str) -> dt.datetime:
    seconds = git.committer_time(rev, git.run(root, "show", "-s", "--format=%ct", rev))
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def config_at(root: Path, rev: str, text: str | None) -> Config | None:
    if text is None:
        return None
    source = f"{rev[:12]}:{layout.CONFIG_FILE}"
    return config.from_text(text, source, root)


def all_ledgers(root: Path, rev: str) -> dict[str, list[KeyRecord]]:
    """env -> the records of its ledger at `rev`, for every ledger file there."""
    listing = git.run(root, "ls-tree", "-r", "-z", "--name-only", rev, "--", f"{layout.LEDGER_DIR}/").split(
        "\0"
    )
    envs = {p: env for p in listing if (env := layout.ledger_env(p))}
    files = read_files(root, rev, list(envs))
    return {envs[p]: parse_ledger(envs[p], text) for p, text in files.items()}


def parse_ledger(env: str, text: str | None) -> list[KeyRecord]:
    """The records of a ledger file's text; a broken ledger reads as empty (reported elsewhere)."""
    try:
        return ledger.parse(env, text, layout.ledger_file(env)) if text and text.strip() else []
    except SealerError:
        return []


def parse_mapping(text: str | None, source: str) -> dict[str, Any] | None:
    """The first YAML document of `text` if it is a mapping; None when absent or broken."""
    if text is None:
        return None
    try:
        docs = yamlio.load_documents(text, source)
    except SealerError:
        return None
    return docs[0] if docs and isinstance(docs[0], dict) else None


# -- one side of the comparison ----------------------------------------------------------------


@dataclass
class Side:
    """The files of one revision, each parsed once."""

    rev: str
    cfg: Config | None
    files: dict[str, str | None]
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)

    def env(self, name: str) -> Environment | None:
        return self.cfg.environments.get(name) if self.cfg else None

    def records(self, env: str) -> list[KeyRecord]:
        path = layout.ledger_file(env)
        if ("ledger", path) not in self.parsed:
            self.parsed["ledger", path] = parse_ledger(env, self.files.get(path))
        return list(self.parsed["ledger", path])

    def doc(self, path: str) -> dict[str, Any] | None:
        if ("doc", path) not in self.parsed:
            self.parsed["doc", path] = parse_mapping(self.files.get(path), f"{self.rev[:12]}:{path}")
        found: dict[str, Any] | None = self.parsed["doc", path]
        return found

    def values(self, path: str | None) -> dict[str, Any]:
        """The `sealer:` subtree of a values file, or {}."""
        sub = (self.doc(path) or {}).get("sealer") if path else None
        return sub if isinstance(sub, dict) else {}


def current(records: list[KeyRecord], name: str) -> KeyRecord | None:
    """The key an entry carries: its newest active (or pending) record."""
    found = None
    for record in records:
        if record.name == name and record.status in (ACTIVE, PENDING):
            found = record
    return found


def encrypted(doc: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in state.encrypted_data(doc).items()}


# -- which files matter ------------------------------------------------------------------------


def env_files(env: Environment | None, name: str) -> set[str]:
    if env is None:
        return {layout.ledger_file(name)}
    files = {env.values_file, layout.ledger_file(name)}
    for cluster in env.clusters:
        files |= {layout.sealed_file(name, cluster.name), cluster.values_file}
        files |= {held.cert for held in cluster.cert_set}  # every certificate of the set (#15)
        files.add(layout.registry_file(name, cluster.name))  # #16
    return files


def touched_envs(base: Config | None, head: Config | None, changed: list[str]) -> list[str]:
    """Environments whose sealed data, values, ledger, certificates or settings changed."""
    names = sorted({*(base.environments if base else {}), *(head.environments if head else {})})
    result = []
    for name in names:
        old = base.environments.get(name) if base else None
        new = head.environments.get(name) if head else None
        files = env_files(old, name) | env_files(new, name)
        owned = (layout.sealed_dir(name), f"{layout.REGISTRY_DIR}/{name}/")  # #16: registries too
        if old != new or any(p in files or p.startswith(owned) for p in changed):
            result.append(name)
    return result


def clusters_of(
    name: str, base: Environment | None, head: Environment | None, changed: list[str]
) -> dict[str, str]:
    """cluster -> values file, over both revisions and any changed sealed file of the env."""
    result: dict[str, str] = {}
    for env in (base, head):
        for cluster in env.clusters if env else ():
            result[cluster.name] = cluster.values_file
    for path in changed:
        sealed_for = layout.sealed_cluster(name, path)
        if sealed_for is not None:
            result.setdefault(sealed_for, layout.values_file(name, sealed_for))
    return result
