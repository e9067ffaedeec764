"""`sealer init`: turn a Git repository into a sealer-managed GitOps repo."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sealer import config, git, hooksrepo, layout, repofiles, templating, yamlio
from sealer.apikey import check_env_tag
from sealer.errors import BadInput, SealerError

DEFAULT_ENVS = ("dev", "staging", "production")
# Rotation periods users are told to follow: production 90 days, staging 30, dev 180.
ROTATION_DAYS_BY_ENV = {"dev": 180, "staging": 30, "production": 90}
DEFAULT_SECRET_NAME = "engine-api-key"
# Usual private-key file names: a controller's tls.key opens every value sealed for it.
PRIVATE_KEY_PATTERNS = (
    "*.key",
    "*-key.pem",
    "*_key.pem",
    "*.key.pem",
    "sealed-secrets-key.yaml",
    "*.p12",
    "*.pfx",
    "id_rsa",
    "id_ecdsa",
    "id_ed25519",
)


@dataclass(frozen=True)
class NewEnvironment:
    """One environment as `sealer init` writes it into sealer.yaml."""

    name: str
    namespace: str
    secret_name: str
    keys: tuple[str, ...]
    scope: str
    values_file: str
    rotation_days: int
    key_lifetime_days: int


def plan(envs: tuple[str, ...], namespaces: dict[str, str]) -> list[NewEnvironment]:
    names = envs or DEFAULT_ENVS
    if len(set(names)) != len(names):
        raise BadInput("each --env may be given once")
    unknown = set(namespaces) - set(names)
    if unknown:
        raise BadInput(f"--namespace-of names unknown environment(s): {', '.join(sorted(unknown))}")
    plans = []
    for name in names:
        check_env_tag(name)  # env names also tag the keys, so they follow the key format's rule
        days = ROTATION_DAYS_BY_ENV.get(name, config.DEFAULT_ROTATION_DAYS)
        plans.append(
            NewEnvironment(
                name,
                namespaces.get(name, name),
                DEFAULT_SECRET_NAME,
                config.DEFAULT_KEYS,
                config.DEFAULT_SCOPE.value,
                layout.values_file(name, name),
                days,
                config.default_key_lifetime(days),
            )
        )
    return plans


def _git_root(path: Path) -> Path:
    found = git.top_level(path)
    if found is None:
        raise BadInput(f"{path} is not inside a Git repository (run `git init` first)")
    return found


def _write_new(path: Path, text: str, created: list[Path]) -> None:
    if not os.path.lexists(path):  # a symlink planted there is refused by the write, not skipped
        repofiles.write(path, text)
        created.append(path)


def _add_lines(path: Path, existing: str, comment: str, lines: tuple[str, ...], created: list[Path]) -> str:
    """`existing` with those of `lines` it lacks added under `comment`: what `path` now holds."""
    missing = [line for line in lines if line not in existing.splitlines()]
    if missing:
        sep = "\n" if existing and not existing.endswith("\n") else ""
        existing = f"{existing}{sep}# sealer: {comment}\n" + "".join(f"{m}\n" for m in missing)
        repofiles.write(path, existing)
        if path not in created:
            created.append(path)
    return existing


def textconv_command(python: str | None = None) -> str:
    """The diff driver as git runs it (through sh, the file appended): this very interpreter
    by absolute path, so no `sealer` on PATH is needed, and the file as it is when that
    interpreter or sealer is gone — a textconv that fails breaks `git log -p` and `git diff`.
    `-I`: git runs it at the top of the work tree, and `-m` would import a `sealer/` folder a
    pull request put there before the installed sealer (and honour PYTHONPATH)."""
    program = shlex.quote(python or sys.executable)
    return f'sh -c \'"$0" -I -m sealer diff-driver "$1" 2>/dev/null || cat "$1"\' {program}'


def _add_gitattributes(path: Path, existing: str, created: list[Path]) -> None:
    if "diff=sealer" not in existing:
        repofiles.write(
            path,
            existing
            + ("\n" if existing and not existing.endswith("\n") else "")
            + templating.render("gitattributes.j2"),
        )
        created.append(path)


_SHARED = (layout.PRE_COMMIT_CONFIG, layout.GITATTRIBUTES, layout.GITIGNORE)
HOOK_IDS = ("sealer-scan", "sealer-scan-message", "sealer-check")


def _kept_config(root: Path) -> dict[str, object] | None:
    """The repository's `.pre-commit-config.yaml` as a mapping; None when it cannot be read."""
    try:
        text = repofiles.read_text_if_exists(root / layout.PRE_COMMIT_CONFIG)
        docs = yamlio.load_documents(text or "", layout.PRE_COMMIT_CONFIG)
    except (SealerError, OSError, UnicodeDecodeError):
        return None
    return docs[0] if docs and isinstance(docs[0], dict) else {}


def hooks_missing(root: Path) -> list[str]:
    """sealer's hooks that the repository's `.pre-commit-config.yaml` does not run: init never
    overwrites one that was there, and must not leave the plaintext guard off unsaid. One it
    cannot read runs none that it can vouch for."""
    kept = _kept_config(root)
    if kept is None:
        return list(HOOK_IDS)
    repos = kept.get("repos")
    listed = [r.get("hooks") for r in repos if isinstance(r, dict)] if isinstance(repos, list) else []
    hooks = [h for each in listed if isinstance(each, list) for h in each if isinstance(h, dict)]
    ids = {h.get("id") for h in hooks if isinstance(h.get("id"), str)}  # any shape a hand edit gives
    return [hook for hook in HOOK_IDS if hook not in ids]


def installs_commit_msg(root: Path) -> bool:
    """Whether a plain `pre-commit install` in a clone installs the message hook: only when the
    config's `default_install_hook_types` names commit-msg (pre-commit's default is pre-commit)."""
    kept = _kept_config(root)
    types = kept.get("default_install_hook_types") if kept else None
    return isinstance(types, list) and "commit-msg" in types


def ignored_line(root: Path, created: list[Path]) -> str | None:
    """What to say of the files init just wrote that git ignores (`*.yaml` in a global excludes
    file, say): `git add -A` leaves them out, and `sealer check` fails on sealer's own
    (ignored-file) until they are added with `git add -f`. None when git ignores none of them."""
    ignored = git.ignored_untracked(root, [str(path.relative_to(root)) for path in created])
    return git.uncommitted_line(dict.fromkeys(sorted(ignored), True)) if ignored else None


def hooks_entry(hooks: hooksrepo.HooksRepo) -> str:
    """The `repos:` item that runs sealer's hooks, as `sealer init` writes it."""
    return templating.render("pre-commit-config.yaml.j2", hooks=hooks).split("repos:\n", 1)[1]


def init(
    root: Path,
    envs: tuple[str, ...] = (),
    namespaces: dict[str, str] | None = None,
    hooks: hooksrepo.HooksRepo | None = None,
) -> list[Path]:
    """Write sealer.yaml, the folders, the pre-commit config and the diff driver set-up."""
    top = _git_root(root)
    if top.resolve() != root.resolve():  # sealer's paths are the repository's: its files go at the top
        raise BadInput(f"{root} is a sub-folder of the Git work tree {top}: run `sealer init` there")
    target = layout.config_path(root)
    if target.exists():
        raise BadInput(f"{target} exists; sealer init never overwrites it")
    plans = plan(envs, namespaces or {})
    hooks = hooks or hooksrepo.locate()
    created: list[Path] = []
    text = templating.render("sealer.yaml.j2", environments=plans)
    config.from_text(text, "sealer.yaml template", root)  # never write an invalid file
    for rel in (layout.CONFIG_FILE, *(env.values_file for env in plans), f"{layout.CERTS_DIR}/.", *_SHARED):
        repofiles.check_writable(root / rel)  # #13: a symlink anywhere stops init before its first write
    # ... and so does a .gitattributes or .gitignore it cannot read as text (binary, too large), which
    # it extends: found after sealer.yaml was written, it left a set-up a rerun refuses to finish.
    extended = (layout.GITATTRIBUTES, layout.GITIGNORE)
    kept = {rel: repofiles.read_text_if_exists(root / rel) or "" for rel in extended}
    _write_new(target, text, created)
    for env in plans:
        _write_new(
            root / env.values_file,
            templating.render("values.yaml.j2", env=env.name, cluster=env.name),
            created,
        )
    repofiles.make_folder(root / layout.CERTS_DIR)
    _write_new(
        root / layout.PRE_COMMIT_CONFIG, templating.render("pre-commit-config.yaml.j2", hooks=hooks), created
    )
    _add_gitattributes(root / layout.GITATTRIBUTES, kept[layout.GITATTRIBUTES], created)
    ignore = root / layout.GITIGNORE
    outputs = (f"/{layout.OUT_DIR}/",)
    ignored = kept[layout.GITIGNORE]
    ignored = _add_lines(ignore, ignored, "pull-request descriptions and run reports", outputs, created)
    _add_lines(ignore, ignored, "private keys never belong in the repository", PRIVATE_KEY_PATTERNS, created)
    git.run(root, "config", "diff.sealer.textconv", textconv_command())
    return created
