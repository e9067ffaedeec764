"""Every path inside a sealer-managed repo, spelled here and nowhere else.

The `*_file` forms are relative to the repo root, with `/` (what Git, review and the ledger
see); the `*_path` forms join a root for reading and writing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

CONFIG_FILE = "sealer.yaml"
LEDGER_DIR = "ledger"
CERTS_DIR = "certs"
SEALED_DIR = "sealed"
DEPLOY_DIR = "deploy"
REGISTRY_DIR = "registry"  # key registries (#16): one manifest per environment and cluster
OUT_DIR = ".sealer/out"  # pull-request descriptions and run reports; ignored by Git
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
GITATTRIBUTES = ".gitattributes"
GITIGNORE = ".gitignore"
# Trust anchors `sealer review` reads at BASE (#19): git's allowed-signers format (SSH keys), and
# beside each an ASCII-armoured OpenPGP keyring (`.asc`).
SIGNERS_FILE = ".sealer/allowed_signers"  # who may sign commits touching sealer's files
APPROVERS_FILE = ".sealer/approvers"  # who may approve sensitive changes (signed tags)
CODEOWNERS_FILES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
# Each host reads the first of its files that exists (empty or not), in its own order: GitHub
# never reads .gitlab/, GitLab never .github/ (and looks at the root first). Gitea's and
# Forgejo's rules are Go regular expressions; neither reads .github/ or .gitlab/.
CODEOWNERS_LOOKUP = {
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
    "gitea": ("CODEOWNERS", "docs/CODEOWNERS", ".gitea/CODEOWNERS"),
    "forgejo": ("CODEOWNERS", "docs/CODEOWNERS", ".gitea/CODEOWNERS", ".forgejo/CODEOWNERS"),
}
# Where `sealer ci init KIND` writes it.
CODEOWNERS_WRITTEN = {
    "github": ".github/CODEOWNERS",
    "gitlab": ".gitlab/CODEOWNERS",
    "gitea": ".gitea/CODEOWNERS",
    "forgejo": ".forgejo/CODEOWNERS",
}
APPROVAL_TAGS = "refs/tags/sealer-approval/"
# The branches `sealer rotate` and `keys revoke` name by default: never the main line.
OWN_BRANCH_PREFIXES = ("sealer/rotate-", "sealer/revoke-")


def is_certs_dir(name: str) -> bool:
    """Whether a top-level name is the certificates folder: compared without case, as on a
    case-insensitive file system (macOS, a Windows checkout) `Certs/` is `certs/` (`folded`)."""
    return folded(name) == CERTS_DIR


def in_certs_dir(rel: str) -> bool:
    """Whether the repository path `rel` lies below the certificates folder (`is_certs_dir`)."""
    top, slash, _ = rel.partition("/")
    return bool(slash) and is_certs_dir(top)


def cert_file(env: str, cluster: str) -> str:
    return f"{CERTS_DIR}/{env}.pem" if cluster == env else f"{CERTS_DIR}/{env}-{cluster}.pem"


def added_cert_file(env: str, cluster: str, fingerprint: str) -> str:
    """Where a certificate added to a cluster's set is kept (a renewed controller key)."""
    return f"{cert_file(env, cluster)[: -len('.pem')]}-{fingerprint[:12]}.pem"


def values_file(env: str, cluster: str) -> str:
    return (
        f"{DEPLOY_DIR}/{env}/values.yaml" if cluster == env else f"{DEPLOY_DIR}/{env}/values-{cluster}.yaml"
    )


def sealed_dir(env: str) -> str:
    """The folder of `env`'s sealed files, with a trailing `/` (a prefix of each of them)."""
    return f"{SEALED_DIR}/{env}/"


def sealed_file(env: str, cluster: str) -> str:
    return f"{sealed_dir(env)}{cluster}.yaml"


def sealed_cluster(env: str, rel: str) -> str | None:
    """The cluster whose sealed file of `env` is `rel`, or None when `rel` is not one."""
    name = rel.removeprefix(sealed_dir(env))
    if name == rel or "/" in name or not name.endswith(".yaml"):
        return None
    return name[: -len(".yaml")]


# What a GitOps tool pointed at a folder may apply of a file there: manifests (Argo CD's directory
# apps, Flux's generated kustomization), jsonnet Argo CD evaluates (and what it imports), and a
# kustomization, which may pull in anything.
_APPLIED_SUFFIXES = (".yaml", ".yml", ".json", ".jsonnet", ".libsonnet")
_KUSTOMIZATION = "kustomization"  # kustomize's name without a suffix


def may_be_applied(name: str, plain_file: bool) -> bool:
    """Whether a GitOps tool applying the folder holding the entry `name` may apply it (or what
    it pulls in): any folder, symlink or submodule (`plain_file` False), and a file named as
    above, in any case (`folded`: as a checkout on macOS or Windows names it). A `.gitkeep`, a
    README or a `.DS_Store` a team keeps there never is."""
    key = folded(name)
    return not plain_file or key.endswith(_APPLIED_SUFFIXES) or key == _KUSTOMIZATION


def sealed_path(root: Path, env: str, cluster: str) -> Path:
    return root / sealed_file(env, cluster)


def ledger_file(env: str) -> str:
    return f"{LEDGER_DIR}/{env}.yaml"


def ledger_env(rel: str) -> str | None:
    """The environment whose ledger is `rel`, or None when `rel` is not a ledger file."""
    name = rel.removeprefix(f"{LEDGER_DIR}/")
    if name == rel or "/" in name or not name.endswith(".yaml"):
        return None
    return name[: -len(".yaml")]


def ledger_path(root: Path, env: str) -> Path:
    return root / ledger_file(env)


def registry_file(env: str, cluster: str) -> str:
    return f"{REGISTRY_DIR}/{env}/{cluster}.yaml"


def registry_env(rel: str) -> str | None:
    """The environment whose registry file `rel` is, or None when `rel` is not one."""
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] != REGISTRY_DIR or not parts[2].endswith(".yaml"):
        return None
    return parts[1]


def config_path(root: Path) -> Path:
    return root / CONFIG_FILE


def out_path(root: Path) -> Path:
    return root / OUT_DIR


# What a configured path (valuesFile, cert) may never be: sealer's own files, or inside the
# folders sealer manages or Git keeps (#13: a valuesFile in .git/ would write a hook).
_OWN_FILES = (CONFIG_FILE, PRE_COMMIT_CONFIG, GITATTRIBUTES, GITIGNORE)
_OWN_DIRS = (".git", LEDGER_DIR, SEALED_DIR, REGISTRY_DIR, ".sealer")


def configured_path_problem(rel: str) -> str | None:
    """Why the configured path `rel` (relative, no `..`) cannot be used, or None. Compared
    without case: on a case-insensitive file system `.GIT/hooks` is `.git/hooks`."""
    if not rel.isprintable():  # a line break would end a line of git's batch input, or of output
        return "holds a control character"
    parts = [part.casefold() for part in rel.split("/") if part not in ("", ".")]
    if ".git" in parts:
        return "must stay outside .git/"
    if "/".join(parts) in _OWN_FILES:
        return f"is sealer's own {rel}"
    if parts and parts[0] in _OWN_DIRS:
        return f"lies in {parts[0]}/, which sealer manages"
    return None


def normalised(rel: str) -> str:
    """`rel` as compared with other configured paths (no `.` parts, no doubled `/`), as a
    case-insensitive file system compares names (`folded`): there two spellings are one file."""
    return folded("/".join(part for part in rel.split("/") if part not in ("", ".")))


def env_paths(env: str, clusters: Iterable[str]) -> list[str]:
    """What sealer writes for `env` in the folders it manages: its ledger, its folders in
    sealed/ and registry/ (without their `/`) and each cluster's file there."""
    clusters = list(clusters)
    return [
        ledger_file(env),
        sealed_dir(env).rstrip("/"),
        *(sealed_file(env, c) for c in clusters),
        f"{REGISTRY_DIR}/{env}",
        *(registry_file(env, c) for c in clusters),
    ]


# The code points HFS+ leaves out of a name (as git's is_hfs_dotgit does): `led\u200cger` is `ledger`.
_HFS_IGNORED = dict.fromkeys([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])


def folded(rel: str) -> str:
    """`rel` as a case-insensitive file system (macOS, Windows) compares names: without case, in
    one Unicode normal form (macOS keeps `é` decomposed), without what HFS+ ignores. Two paths
    Git holds apart that fold alike are checked out there as one file (the last one written)."""
    if rel.isascii():  # most paths: nothing to normalise or leave out, and casefold is lower
        return rel.lower()
    text = unicodedata.normalize("NFD", rel).translate(_HFS_IGNORED)
    return unicodedata.normalize("NFC", text.casefold())


def _parent(rel: str) -> str:
    """The folder `rel` lies in ("" at the top)."""
    return rel.rpartition("/")[0]


def _folders(paths: Iterable[str]) -> Iterator[str]:
    """Each folder above one of `paths`, once: the climb from a path stops at a folder seen."""
    seen = {""}
    for path in paths:
        folder = _parent(path)
        while folder not in seen:
            seen.add(folder)
            yield folder
            folder = _parent(folder)


T = TypeVar("T")


class _Along(Generic[T]):
    """A fact of the folders above a path, built outermost first (`step(fact of the parent,
    folder)`) and kept per folder: paths in one folder share its work, so a pull request's files
    thousands of folders deep cost their length, not their depth times it (minutes of a gate)."""

    def __init__(self, top: T, step: Callable[[T, str], T]) -> None:
        self._step = step
        self._memo: dict[str, T] = {"": top}

    def above(self, rel: str) -> T:
        """The fact of the folders above `rel`."""
        return self.of(_parent(rel))

    def of(self, folder: str) -> T:
        """The fact of `folder` and the folders above it."""
        unseen = []
        while folder not in self._memo:
            unseen.append(folder)
            folder = _parent(folder)
        fact = self._memo[folder]
        for name in reversed(unseen):
            fact = self._memo[name] = self._step(fact, name)
        return fact


class Spellings:
    """The paths sealer manages, as sealer spells them: its own files and folders, and
    `configured` (what sealer.yaml names: `Config.managed_paths`). Compared with a path Git holds
    as a case-insensitive file system compares them (`folded`), so `Ledger/production.yaml` or
    `SEALER.yaml`, which a checkout there writes over the real file, is told from it."""

    def __init__(self, configured: Iterable[str] = ()) -> None:
        self._named: dict[str, set[str]] = {}  # folded -> spellings, of each managed path
        self._above: dict[str, set[str]] = {}  # folded -> spellings, of each folder above one
        paths = (*_OWN_FILES, *_OWN_DIRS, *configured)
        for path in paths:
            self._named.setdefault(folded(path), set()).add(path)
        for folder in _folders(paths):
            self._above.setdefault(folded(folder), set()).add(folder)
        # the first part of each, folded: a path under none of them is none of them (most of a
        # repository's files, told apart at one fold each)
        self._tops = {key.partition("/")[0] for key in self._named}
        self._misspelt = _Along[str | None](None, lambda above, folder: above or self._misspelt_as(folder))
        self._in_named = _Along(False, lambda above, folder: above or self._is_named(folder))

    def _misspelt_as(self, folder: str) -> str | None:
        spelt = self._named.get(folded(folder), set())
        return f"{min(spelt)}/" if spelt and folder not in spelt else None

    def _is_named(self, folder: str) -> bool:
        return folder in self._named.get(folded(folder), ())

    def near(self, top: str) -> bool:
        """Whether a path under the top-level name `top` may be a managed one in any spelling
        (else `variant` and `holds` are None and False for every path there)."""
        return folded(top) in self._tops

    def variant(self, rel: str) -> str | None:
        """The managed path `rel` is in another spelling (or a folder above one, or lies in a
        managed folder spelt otherwise), or None."""
        if not self.near(rel.partition("/")[0]):
            return None
        key = folded(rel)
        spelt = self._named.get(key, set()) | self._above.get(key, set())
        if spelt and rel not in spelt:
            return min(spelt)
        return self._misspelt.above(rel)

    def holds(self, rel: str) -> bool:
        """Whether `rel` is a managed path spelt as sealer spells it, lies in one, or is a folder
        above one."""
        key = folded(rel)
        return rel in self._above.get(key, ()) or rel in self._named.get(key, ()) or self._in_named.above(rel)


def _with(above: frozenset[str], as_file: dict[str, set[str]], folder: str) -> frozenset[str]:
    """`above` and the files `as_file` holds spelt otherwise where `folder` is."""
    others = as_file.get(folded(folder), set()) - {folder}
    return above | others if others else above


def case_collisions(added: Iterable[str], files: Iterable[str]) -> dict[str, list[str]]:
    """Each of `added` that `files` (what Git holds) holds in another spelling, as a file or as a
    folder above one, or that lies in a folder `files` holds as a file spelt otherwise -> those
    spellings: a case-insensitive file system checks them out as one."""
    files, added = list(files), list(added)
    if _ascii_apart(files) and set(files).issuperset(added):
        return {}
    whole: dict[str, set[str]] = {}  # folded -> spellings of each file and each folder above one
    as_file: dict[str, set[str]] = {}
    for path in files:
        as_file.setdefault(folded(path), set()).add(path)
    for path in (*files, *_folders(files)):
        whole.setdefault(folded(path), set()).add(path)
    files_over = _Along[frozenset[str]](frozenset(), lambda above, folder: _with(above, as_file, folder))
    found = {}
    for path in added:
        others = whole.get(folded(path), set()) - {path} | files_over.above(path)
        if others:
            found[path] = sorted(others)
    return found


def _ascii_apart(files: list[str]) -> bool:
    """Whether `files` are ASCII (most repositories') and no two of them, their folders or a
    folder and a file fold alike: then none of them collides with another, told at C speed."""
    names = [*files, *_folders(files)]
    return all(map(str.isascii, names)) and len({name.lower() for name in names}) == len(names)
