"""`sealer init`: turn a Git repository into a sealer-managed GitOps repo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sealer import config, git, layout, repofiles, templating, yamlio
from sealer.apikey import check_env_tag
from sealer.errors import BadInput

DEFAULT_ENVS = ("dev", "staging", "production")
# Rotation periods users are told to follow: production 90 days, staging 30, dev 180.
ROTATION_DAYS_BY_ENV = {"dev": 180, "staging": 30, "production": 90}
DEFAULT_SECRET_NAME = "engine-api-key"


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


def _add_line(path: Path, line: str, created: list[Path]) -> None:
    existing = repofiles.read_text_if_exists(path) or ""
    if line not in existing.splitlines():
        sep = "\n" if existing and not existing.endswith("\n") else ""
        repofiles.write(path, f"{existing}{sep}# sealer: pull-request descriptions and run reports\n{line}\n")
        created.append(path)


def _add_gitattributes(path: Path, created: list[Path]) -> None:
    existing = repofiles.read_text_if_exists(path) or ""
    if "diff=sealer" not in existing:
        repofiles.write(
            path,
            existing
            + ("\n" if existing and not existing.endswith("\n") else "")
            + templating.render("gitattributes.j2"),
        )
        created.append(path)


_SHARED = (layout.PRE_COMMIT_CONFIG, layout.GITATTRIBUTES, layout.GITIGNORE)


def init(root: Path, envs: tuple[str, ...] = (), namespaces: dict[str, str] | None = None) -> list[Path]:
    """Write sealer.yaml, the folders, the pre-commit config and the diff driver set-up."""
    _git_root(root)
    target = layout.config_path(root)
    if target.exists():
        raise BadInput(f"{target} exists; sealer init never overwrites it")
    plans = plan(envs, namespaces or {})
    created: list[Path] = []
    text = templating.render("sealer.yaml.j2", environments=plans)
    config.parse(yamlio.load_documents(text, "sealer.yaml template")[0], root)  # never write an invalid file
    for rel in (layout.CONFIG_FILE, *(env.values_file for env in plans), f"{layout.CERTS_DIR}/.", *_SHARED):
        repofiles.check_writable(root / rel)  # #13: a symlink anywhere stops init before its first write
    _write_new(target, text, created)
    for env in plans:
        _write_new(
            root / env.values_file,
            templating.render("values.yaml.j2", env=env.name, cluster=env.name),
            created,
        )
    repofiles.make_folder(root / layout.CERTS_DIR)
    _write_new(root / layout.PRE_COMMIT_CONFIG, templating.render("pre-commit-config.yaml.j2"), created)
    _add_gitattributes(root / layout.GITATTRIBUTES, created)
    _add_line(root / layout.GITIGNORE, f"/{layout.OUT_DIR}/", created)
    git.run(root, "config", "diff.sealer.textconv", "sealer diff-driver")
    return created
