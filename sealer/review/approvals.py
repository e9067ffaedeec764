"""Trust anchors from BASE, and approvals from outside the pull request's author's control.

Nothing the change under review adds counts: the allowed signers, the approvers' keys and the
CODEOWNERS file are read at BASE. A commit-message trailer or a file in the pull request is no
approval. Two channels are understood:

- `codeowners`: the Git host enforces a code owner's review over paths its CODEOWNERS file (the
  base branch's, on GitHub and GitLab alike) assigns. On Gitea and Forgejo (named by the CI's
  environment, as the forge is) the file is theirs: their lookup order, a Go regular expression
  per rule. A sensitive finding on such a path is
  reported as "needs owner approval" and does not fail the check: the host's merge gate does.
  One on a path CODEOWNERS does not cover still fails.
- `signed-tags`: an approver signs a tag `sealer-approval/<anything>` on the exact HEAD commit
  (`git tag -s`); a key in BASE's `.sealer/approvers` (SSH, allowed-signers format) or
  `.sealer/approvers.asc` (OpenPGP) must have signed it. A new push needs a new tag.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sealer import git, layout
from sealer.forge import host_named
from sealer.review.model import SENSITIVE, Finding, Report
from sealer.review.revisions import read_files

CHANNELS = ("codeowners", "signed-tags")


@dataclass(frozen=True)
class Anchors:
    """BASE's copy of a list of keys, in temp files git's verification reads."""

    ssh: Path | None  # allowed-signers file
    gnupg_home: Path | None  # a keyring holding only BASE's OpenPGP keys

    @property
    def empty(self) -> bool:
        return self.ssh is None and self.gnupg_home is None


@contextlib.contextmanager
def anchors_at(root: Path, base: str, path: str) -> Iterator[Anchors]:
    """`path` (SSH) and `path`.asc (OpenPGP) as they stand at `base`, for git to verify with."""
    texts = read_files(root, base, [path, f"{path}.asc"])
    with tempfile.TemporaryDirectory(prefix="sealer-anchors-") as tmp:
        ssh, signers, keyring = None, texts[path], texts[f"{path}.asc"]
        if signers and signers.strip():
            ssh = Path(tmp) / "allowed_signers"
            ssh.write_text(signers)
        home = _keyring(Path(tmp) / "gnupg", keyring) if keyring else None
        yield Anchors(ssh, home)


def _keyring(home: Path, armoured: str) -> Path | None:
    home.mkdir(mode=0o700)
    try:
        done = subprocess.run(
            ["gpg", "--batch", "--quiet", "--homedir", str(home), "--import"],
            input=armoured.encode(),
            capture_output=True,
        )
    except FileNotFoundError:
        return None  # no gpg: OpenPGP signatures cannot verify, so none counts
    return home if done.returncode == 0 else None


# -- CODEOWNERS --------------------------------------------------------------------------------


def _pattern(glob: str) -> re.Pattern[str]:
    """A CODEOWNERS path pattern (gitignore rules) as a regex over a repo-relative path."""
    anchored = glob.startswith("/") or "/" in glob.rstrip("/")
    body = glob.strip("/")
    out = ""
    for part in re.split(r"(\*\*|\*|\?)", body):
        out += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    # `docs/*` owns docs/a.md, not docs/b/c.md (both hosts' documented meaning, unlike gitignore's):
    # counting a nested file owned would pass a finding the host asks no one to approve.
    tail = "/.*" if glob.endswith("/") else "" if body.endswith("/*") else "(/.*)?"
    return re.compile(("" if anchored else "(.*/)?") + out + tail)


# A GitLab section header: `[Name]`, `[Name][2]` (approvals), `^[Name]` (optional), default owners after it.
_SECTION = re.compile(r"(\^)?\[([^\]]+)\](?:\[\d+\])?(.*)")


@dataclass(frozen=True)
class CodeOwners:
    # (section, optional, pattern, owners) in file order. GitHub has one section, where the last
    # matching rule wins; GitLab's sections apply side by side, each by its own last matching
    # rule, and an optional section (`^[Name]`) requires no approval at all.
    rules: tuple[tuple[str, bool, re.Pattern[str], tuple[str, ...]], ...]
    # (section, pattern) of GitLab's exclusions (`!path`, 17.10 on): a path one matches needs no
    # approval in that section, wherever the line stands (GitLab never includes it again).
    excluded: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def owners(self, path: str) -> tuple[str, ...]:
        """The owners the host requires an approval from for `path` (none: not covered)."""
        last: dict[str, tuple[str, ...]] = {}
        for section, optional, pattern, owners in self.rules:
            if pattern.fullmatch(path):
                last[section] = () if optional else owners
        for section, pattern in self.excluded:
            if pattern.fullmatch(path):
                last.pop(section, None)
        return tuple(owner for owners in last.values() for owner in owners)


# GitHub loads no CODEOWNERS over 3 MB ("code owners will not be requested"); a symlinked one is
# not followed. Either owns nothing here, for every host: sealer never counts owned what a host
# may ask no one to approve.
GITHUB_CODEOWNERS_MAX = 3 * 1024 * 1024


# A line break or space Python's splitlines() and split() see and a host's reader may not (U+2028,
# U+0085, a form feed, a no-break space…): a rule `a<U+2028>/sealer.yaml @team` would own
# sealer.yaml here alone. Such a file is read as owning nothing (approvals then cannot pass).
_AMBIGUOUS_SPACE = re.compile(r"[^\S\n\r\t ]")


def codeowners_at(root: Path, base: str, env: Mapping[str, str] | None = None) -> CodeOwners | None:
    """The rules of the CODEOWNERS file the host reads at `base`: the first of its files that
    exists, empty or not (an empty one found first owns nothing: the host reads no other)."""
    # the host the CI names (sealer.forge's reading); outside a CI: every file, GitHub's order first
    host = host_named(os.environ if env is None else env)
    files = layout.CODEOWNERS_LOOKUP[host] if host else layout.CODEOWNERS_FILES
    texts = read_files(root, base, files)
    found = next((p for p in files if texts[p] is not None), None)
    if found is None:
        return None
    text = texts[found]
    assert text is not None
    mode = git.tree_entries(root, base, [found]).get(found, ("", ""))[0]
    if mode not in git.FILE_MODES or len(text.encode()) > GITHUB_CODEOWNERS_MAX:
        return CodeOwners(())  # a symlink (its text is a path) or a file the host will not load
    if _AMBIGUOUS_SPACE.search(text):
        return CodeOwners(())  # the host may split its lines and fields elsewhere than Python does
    if host in ("gitea", "forgejo"):
        return _gitea_rules(text)
    # Sections are GitLab's alone: GitHub reads `[Name] @owner` as a pattern line, and a rule
    # after it with no owner of its own as owned by no one.
    sections = host == "gitlab" or (host is None and found == ".gitlab/CODEOWNERS")
    rules, excluded = [], []
    section, optional = "", False
    defaults: tuple[str, ...] = ()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        header = _SECTION.fullmatch(line) if sections else None
        if header:
            section, optional = header.group(2).strip().casefold(), bool(header.group(1))
            defaults = _owners(header.group(3).split())
            continue
        if not line:
            continue
        glob, *owners = line.split()
        if glob.startswith("!"):  # GitLab's exclusion; GitHub has none: there it owns nothing more
            excluded.append((section, _pattern(glob[1:])))
            continue
        rules.append((section, optional, _pattern(glob), _owners(owners) if owners else defaults))
    return CodeOwners(tuple(rules), tuple(excluded))


# An owner either host can look up: @user, @org/team (GitLab: @group/subgroup, @@role), an
# e-mail address. GitHub skips a line with any other; here such a rule owns nothing.
_OWNER = re.compile(
    r"@@?[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*|[^@\s]+@[^@\s]+\.[^@\s]+"
)


def _owners(tokens: list[str]) -> tuple[str, ...]:
    return tuple(tokens) if all(_OWNER.fullmatch(token) for token in tokens) else ()


# Gitea's and Forgejo's rules are Go regular expressions. Only those whose meaning Python's `re`
# shares are read: literals, `.`, classes (no POSIX names), groups, `|`, `* + ?`, escaped
# punctuation. Any other (lookarounds, flags, `\w`, `$`, `{m,n}`…) is skipped: sealer never
# counts a path as owned that the host might not; a skipped rule can fail a finding, not pass it.
_PORTABLE = re.compile(r"(?:[A-Za-z0-9_./,*+?|()-]|\\[!-/:-@\[-`{-~]|\[\^?(?!:)|\])+")
# Go refuses a repetition of a repetition (`*+`, `?*`, `*??`; Python 3.11 reads `*+` as possessive);
# only the lazy `*?`, `+?`, `??` are Go's. Escaped or in a class these are literals: skipped all the same.
_NESTED_REPEAT = re.compile(r"[*+?](?:[*+]|\?[*+?])")
# Go's strings.TrimSpace: Python's whitespace but for the separators \x1c-\x1f, which Go keeps.
_GO_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f")
# An owner the host can look up: a user name or org/team (one leading `@` optional, as the host
# trims it); any other (an e-mail address, a/b/c) is no one, and a rule with no one is dropped.
_GITEA_OWNER = re.compile(r"@?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?")


def _gitea_tokens(line: str) -> list[str]:
    """One line split as the host does: a backslash takes the next character as it is, `#` starts a
    comment, spaces (and tabs) separate."""
    tokens: list[str] = []
    token, escape = "", False
    for char in line.strip(_GO_SPACE).replace("\t", " "):
        if escape:
            token, escape = token + char, False
        elif char == "\\":
            escape = True
        elif char == "#":
            break
        elif char == " ":
            tokens, token = [*tokens, token] if token else tokens, ""
        else:
            token += char
    return [*tokens, token] if token else tokens


def _gitea_rule(expression: str) -> re.Pattern[str] | None:
    """The host's `^expression$` (its `$`: the end of the path) as a pattern that fullmatches
    the paths it finds a match in; `!expression`: the paths it does not; None when unreadable."""
    negative, expression = expression.startswith("!"), expression.removeprefix("!")
    if not _PORTABLE.fullmatch(expression) or "(?" in expression or _NESTED_REPEAT.search(expression):
        return None
    try:
        re.compile(expression)
    except re.error:
        return None
    found = rf"(?s:.*?)(?:^{expression}\Z)"  # a top-level `|` splits the anchors, as in Go
    return re.compile(rf"(?!{found})(?s:.*)" if negative else rf"{found}(?s:.*)")


def _gitea_rules(text: str) -> CodeOwners:
    """Every rule applies on its own: the host asks the owners of each rule a path matches."""
    rules = []
    for number, line in enumerate(text.split("\n")):  # the host's lines: \n only
        tokens = _gitea_tokens(line)
        owners = tuple(owner for owner in tokens[1:] if _GITEA_OWNER.fullmatch(owner))
        pattern = _gitea_rule(tokens[0]) if owners else None
        if pattern is not None:
            rules.append((f"rule {number}", False, pattern, owners))
    return CodeOwners(tuple(rules))


# -- applying an approval channel ----------------------------------------------------------------


def signed_approvals(root: Path, base: str, head: str) -> list[str]:
    """Who approved HEAD: taggers of `sealer-approval/*` tags on it signed by BASE's approvers."""
    tags = git.tags_at(root, head, layout.APPROVAL_TAGS)
    if not tags:
        return []
    with anchors_at(root, base, layout.APPROVERS_FILE) as anchors:
        if anchors.empty:
            return []
        return [
            f"{ref.removeprefix('refs/tags/')} by {who}"
            for ref, who in tags
            if git.verify_tag(root, ref, anchors.ssh, anchors.gnupg_home)
        ]


def apply(report: Report, root: Path, channels: tuple[str, ...], anchors: str) -> None:
    """Move the sensitive findings the chosen channels cover out of the failing findings; the
    approvers and CODEOWNERS are those at revision `anchors` (BASE, or the target's tip)."""
    sensitive = [f for f in report.findings if f.rule in SENSITIVE]
    if not sensitive or not channels:
        return
    if "signed-tags" in channels:
        report.approvals = signed_approvals(root, anchors, report.head)
        if report.approvals:
            report.approved = sensitive
            report.findings = [f for f in report.findings if f.rule not in SENSITIVE]
            return
    if "codeowners" in channels:
        owners = codeowners_at(root, anchors)
        covered = [f for f in sensitive if owners is not None and owners.owners(f.path)]
        report.needs_approval = covered
        report.findings = [f for f in report.findings if f not in covered]
        report.findings = [_uncovered(f) if f.rule in SENSITIVE else f for f in report.findings]


def _uncovered(finding: Finding) -> Finding:
    from dataclasses import replace

    return replace(finding, message=finding.message + " (no code owner for this path in BASE's CODEOWNERS)")
