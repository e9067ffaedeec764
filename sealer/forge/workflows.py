"""`sealer ci init github|gitlab|gitea|forgejo`: the CI workflows and the CODEOWNERS file of a
sealer repo. Gitea and Forgejo Actions run GitHub's workflow syntax: their files come from the
GitHub templates, which say where they differ.

Every value that goes into a generated file is checked against a narrow pattern first and
then written as a YAML scalar, so no option can add a step or a key to a workflow.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from sealer import __version__, layout, repofiles, templating
from sealer.errors import BadInput
from sealer.forge import gitlab_includes

KINDS = ("github", "gitlab", "gitea", "forgejo")
# Gitea's and Forgejo's names in text, and the variable sealer reads their token from.
ACTIONS_HOSTS = {"gitea": ("Gitea", "GITEA_TOKEN"), "forgejo": ("Forgejo", "FORGEJO_TOKEN")}
# A public PEP 440 release (1.4.2, 1.5.0rc1, 1.4.2.post1, 1.6.0.dev3): it ends in a digit. pip
# reads `sealer==1.0.whl` (any archive suffix) as the file of that name in the working directory,
# the pull request's checkout in the review gate, and installs it.
_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?")
_GIT_PIN = re.compile(r"(https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+)@([0-9a-f]{40})")
_OWNER = re.compile(r"@[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_./]*)?|[^@\s]+@[^@\s]+\.[a-z]+")
_CRON = re.compile(r"[0-9*/,-]+( [0-9*/,A-Za-z-]+){4}")
_PYTHON = re.compile(r"3\.[0-9]{1,2}")
# GitLab's job image by its content: NAME[:TAG]@sha256:DIGEST (a tag alone can be moved).
_PINNED_IMAGE = re.compile(r"[a-z0-9][A-Za-z0-9._/:-]*@sha256:[0-9a-f]{64}")
_PATH = re.compile(r"[A-Za-z0-9._/-]+")
_INCLUDE_RULE = re.compile(r"[A-Za-z0-9._/*-]+")  # an include CODEOWNERS can name as GitLab matches it
_REGEX_SPECIAL = re.compile(r"[.+*?()|\[\]{}^$\\]")  # what a Go regular expression would read as syntax
# sealer's trust anchors: configuration, pinned certificates, the ledger, the key registries
# (what verifiers accept keys by), sealer's own folder (allow-lists, baselines), and the
# files that run the gate itself.
OWNED_PATHS = ("/sealer.yaml", "/certs/", "/ledger/", "/registry/", "/.sealer/", "/.pre-commit-config.yaml")
GITLAB_DIR = ".gitlab/ci"  # review counts each of its files a gate file too (sensitive.GATE_FILES)
GITLAB_FILE = f"{GITLAB_DIR}/sealer.yml"
# Who the rotate job commits as (GIT_COMMITTER_EMAIL in the templates): its allowed-signers principal.
COMMITTER = {
    "github": "sealer@users.noreply.github.com",
    "gitlab": "sealer@noreply.invalid",
    "gitea": "sealer@noreply.invalid",
    "forgejo": "sealer@noreply.invalid",
}
SIGNING_SECRET = "SEALER_SIGNING_KEY"
# GitHub: the rotate and finish jobs' environment. Its secrets reach only the branches its rules
# allow (the default branch); a repository secret reaches a workflow on any branch anyone pushes.
GITHUB_ENVIRONMENT = "sealer"
_SSH_PUBLIC = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]{32,}={0,3})(?: [^\n]*)?"
)
MAX_PUBLIC_KEY = 16 << 10
# The actions the GitHub workflows run, each pinned to its release's commit: whoever controls an
# action's repository can move a tag onto other code, and these jobs hold the App's key, the
# signing key and the stores' credentials. Node 24 releases (GitHub's runners dropped Node 20).
# Dependabot keeps such pins current and rewrites the version comment with them.
GITHUB_ACTIONS = {
    "checkout": "actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09  # v5.1.0",
    "setup_python": "actions/setup-python@ece7cb06caefa5fff74198d8649806c4678c61a1  # v6.3.0",
    "app_token": "actions/create-github-app-token@1b10c78c7865c340bc4f6099eb2f838309f1e8c3  # v3.1.1",
    "upload_sarif": "github/codeql-action/upload-sarif@8aad20d150bbac5944a9f9d289da16a4b0d87c1e  # v4.36.2",
}
# Gitea and Forgejo fetch actions from their own mirrors, which need not hold a given commit yet,
# and run them on the job container's Node: a major version's tag, as their documentation does.
# upload-artifact v3: the artifact protocol these hosts serve (v4's is GitHub's own service).
MIRRORED_ACTIONS = {
    "checkout": "actions/checkout@v4",
    "setup_python": "actions/setup-python@v5",
    "upload_artifact": "actions/upload-artifact@v3",
}


@dataclass(frozen=True)
class Options:
    kind: str
    owners: tuple[str, ...]
    version: str | None = None  # a release, for a package index that serves sealer
    git_pin: str | None = None  # https://HOST/PATH@COMMIT: install from that commit instead
    schedule: str = "23 4 * * *"
    python: str = "3.12"
    auth: str = "app"  # github: a GitHub App token, or "token" (secrets.SEALER_TOKEN)
    policy_files: tuple[str, ...] = ()
    force: bool = False
    signing_key: str | None = None  # the rotate job's SSH public key (`ssh-ed25519 AAAA…`)
    image: str | None = None  # GitLab: the jobs' image pinned by digest (else `python:VERSION`)
    # GitLab: what the repository's .gitlab-ci.yml includes (`reading_includes`), owned too
    included: gitlab_includes.Includes = gitlab_includes.Includes()


@dataclass(frozen=True)
class Secret:
    name: str
    holds: str


@dataclass(frozen=True)
class Setup:
    """What the user must create on the host for the written workflows to run."""

    secrets: tuple[Secret, ...]
    signer_line: str  # the line for .sealer/allowed_signers (a placeholder without --signing-key)
    environment: str | None = None  # GitHub: the environment the secrets belong in
    include: str | None = None  # GitLab: the file .gitlab-ci.yml must include (nothing runs it otherwise)
    settings: tuple[str, ...] = ()  # what the files rely on and cannot set (GitHub; GitLab: the image pin)

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "secrets": [{"name": s.name, "holds": s.holds} for s in self.secrets],
            "allowed_signers": {"file": layout.SIGNERS_FILE, "line": self.signer_line},
        }
        if self.environment:
            found["environment"] = {"name": self.environment, "deployment_branches": "default branch only"}
        if self.include:  # the step text gives first: without it nothing runs
            found["include"] = {"file": ".gitlab-ci.yml", "include": f"/{self.include}"}
        if self.settings:
            found["settings"] = list(self.settings)
        return found

    def text(self) -> str:
        lines = ["next:"]
        if self.include:
            lines.append(
                f"  add to .gitlab-ci.yml: include: '/{self.include}' (nothing runs these jobs until then)"
            )
        if self.environment:
            lines.append(
                f"  create the environment {self.environment} (Settings > Environments) with its deployment "
                "branches limited to the default branch, and what follows in it (not among the repository's)"
            )
        lines += [f"  create {s.name}: {s.holds}" for s in self.secrets]
        lines.append(f"  add to {layout.SIGNERS_FILE} on the default branch: {self.signer_line}")
        lines += [f"  {setting}" for setting in self.settings]
        return "\n".join(lines)


def package_spec(options: Options) -> str:
    """What pip installs: sealer pinned to a release, or to one commit of a Git repository."""
    if options.git_pin is None and options.version is None:
        return _own_git_pin()
    if options.git_pin is not None:
        if not _GIT_PIN.fullmatch(options.git_pin):
            raise BadInput("--git must be https://HOST/PATH@COMMIT with the full 40-digit commit id")
        url, _port, commit = _GIT_PIN.fullmatch(options.git_pin).groups()  # type: ignore[union-attr]
        return f"sealer @ git+{url}@{commit}"
    assert options.version is not None
    if not _VERSION.fullmatch(options.version):
        raise BadInput(f"--version must be a release number like 1.4.2, got {options.version!r}")
    return f"sealer=={options.version}"


def _own_git_pin() -> str:
    """Neither --version nor --git: the repository and commit this sealer was installed from
    (as for the pre-commit hooks). Never a bare `sealer==X`: sealer is not a published package,
    and that name on a public index could be anyone's, installed on a runner with credentials."""
    from sealer import hooksrepo

    try:
        source = hooksrepo.locate()
    except BadInput:
        source = None
    pin = f"{source.url}@{source.rev}" if source else ""
    if not _GIT_PIN.fullmatch(pin):
        raise BadInput(
            "sealer is not a published package, so CI must install it from your sealer repository: "
            "give --git https://HOST/PATH@COMMIT (or --version X.Y.Z if your package index serves sealer)"
        )
    return f"sealer @ git+{pin}"


def _check(options: Options) -> None:
    if options.kind not in KINDS:
        raise BadInput(f"unknown CI {options.kind!r}: one of {', '.join(KINDS)}")
    if not options.owners:
        raise BadInput("give at least one --owner (@user, @org/team or an e-mail) for CODEOWNERS")
    for owner in options.owners:
        if not _OWNER.fullmatch(owner):
            raise BadInput(f"--owner {owner!r} is not @user, @org/team or an e-mail address")
        if options.kind != "gitlab" and owner.startswith("@") and owner.count("/") > 1:
            # Only GitLab has nested groups: the other hosts skip a rule naming `@a/b/c`, so the
            # paths would need no code owner at all while the gate says they wait for one.
            raise BadInput(f"--owner {owner!r}: {options.kind} takes @user or @org/team, no deeper path")
        if options.kind in ACTIONS_HOSTS and not owner.startswith("@"):
            # Gitea and Forgejo look an owner up as a user name: an address would own nothing.
            raise BadInput(
                f"--owner {owner!r}: {ACTIONS_HOSTS[options.kind][0]} takes @user or @org/team only"
            )
    if options.kind in ACTIONS_HOSTS and options.auth != "token":
        raise BadInput(f"--auth app is GitHub's: {ACTIONS_HOSTS[options.kind][0]} uses a bot user's token")
    if not _CRON.fullmatch(options.schedule):
        raise BadInput(f"--schedule {options.schedule!r} is not a five-field cron expression")
    if not _PYTHON.fullmatch(options.python):
        raise BadInput(f"--python {options.python!r} is not a Python version like 3.12")
    if options.image is not None and options.kind != "gitlab":
        raise BadInput(f"--image is GitLab's: {options.kind}'s jobs run setup-python on the runner's image")
    if options.image is not None and not _PINNED_IMAGE.fullmatch(options.image):
        raise BadInput(
            f"--image {options.image!r} is not pinned: give NAME@sha256:DIGEST (64 hex digits), "
            "e.g. python:3.12@sha256:…; a tag can be moved onto other code"
        )
    for path in options.policy_files:
        if not _PATH.fullmatch(path) or ".." in path.split("/"):
            raise BadInput(f"--policy-file {path!r} is not a plain path inside the repository")
    signer_line(options.kind, options.signing_key)


def read_public_key(path: Path) -> str:
    """The text of `--signing-key FILE` (a public key: a few hundred bytes), read as any file a
    user names is: a regular file only, never a FIFO that would block `ci init`."""
    try:
        data = repofiles.read_bytes(path, MAX_PUBLIC_KEY + 1, user_path=True)
    except FileNotFoundError as err:
        raise BadInput(f"cannot read --signing-key {path}: {err.strerror or err}") from None
    except BadInput as err:
        raise BadInput(f"--signing-key: {err}") from None
    if len(data) > MAX_PUBLIC_KEY or b"PRIVATE KEY" in data:
        raise BadInput(f"--signing-key {path} is not an SSH public key (give the .pub file)")
    return data.decode("utf-8", "replace")


def render(options: Options) -> dict[str, str]:
    """Relative path -> text of every file `ci init` writes."""
    _check(options)
    kind = options.kind
    host, token_var = ACTIONS_HOSTS.get(kind, ("GitHub", "GITHUB_TOKEN"))
    common = {
        "version": __version__,
        "package": package_spec(options),
        "python": options.python,
        "image": options.image or f"python:{options.python}",
        "kind": kind,
        "host": host,
        "token_var": token_var,
        "actions": GITHUB_ACTIONS if kind == "github" else MIRRORED_ACTIONS,
    }
    workflows = None if kind == "gitlab" else f".{kind}/workflows"
    # Every workflow, not only sealer's: the host names a job's status by the workflow's `name:` and
    # the job's, so an added workflow with a job `sealer` would report the gate's check. GitLab
    # merges every file .gitlab-ci.yml includes into one pipeline, and a job `sealer-review` in any
    # of them merges into the gate's (its `image:` or `before_script:` replaced): the whole folder.
    ci_files = [f"/{workflows}/"] if workflows else ["/.gitlab-ci.yml", f"/{GITLAB_DIR}/"]
    ci_files += [] if workflows else include_rules(options.included)[0]
    owners_file = layout.CODEOWNERS_WRITTEN[kind]
    paths = [
        *OWNED_PATHS,
        *(f"/{p.lstrip('/')}" for p in options.policy_files),
        *ci_files,
        f"/{owners_file}",
    ]
    if kind in ACTIONS_HOSTS:
        paths = [codeowners_regex(path) for path in paths]
    files = {
        owners_file: templating.render(
            "ci/CODEOWNERS.j2",
            kind=kind,
            host=host,
            lookup=layout.CODEOWNERS_LOOKUP.get(kind, ()),
            paths=paths,
            owners=options.owners,
        )
    }
    if workflows is None:
        files[GITLAB_FILE] = templating.render("ci/gitlab-ci.yml.j2", **common, path=GITLAB_FILE)
        return files
    token = "steps.token.outputs.token" if options.auth == "app" else "secrets.SEALER_TOKEN"
    files[f"{workflows}/sealer-review.yml"] = templating.render("ci/github-review.yml.j2", **common)
    files[f"{workflows}/sealer-rotate.yml"] = templating.render(
        "ci/github-rotate.yml.j2",
        **common,
        schedule=options.schedule,
        auth=options.auth,
        token_expr=token,
        committer=COMMITTER[kind],
        environment=GITHUB_ENVIRONMENT,
    )
    return files


def reading_includes(root: Path, options: Options) -> Options:
    """GitLab: `options` with what the repository's .gitlab-ci.yml includes, each file read as
    sealer reads a repository file (no symlink followed, within its size limit)."""
    if options.kind != "gitlab":
        return options
    included = gitlab_includes.local_includes(lambda rel: repofiles.read_text_if_exists(root / rel))
    return dataclasses.replace(options, included=included)


def include_rules(included: gitlab_includes.Includes) -> tuple[list[str], list[str]]:
    """(the CODEOWNERS paths owning each include outside .gitlab/ci/, the includes no path can
    own as GitLab matches them). `*` means the same to both (FNM_PATHNAME, FNM_DOTMATCH); `**`
    does not (GitLab's include crosses folders anywhere in a name): its folder is owned whole."""
    rules: list[str] = []
    unowned: list[str] = []
    for path in (*included.files, *included.patterns):
        if path.startswith(f"{GITLAB_DIR}/"):
            continue  # owned with the folder
        rule = _include_rule(path)
        if rule is None:
            unowned.append(path)
        elif rule not in rules:
            rules.append(rule)
    return rules, unowned


def _include_rule(path: str) -> str | None:
    if not _INCLUDE_RULE.fullmatch(path):
        return None  # a space, `#`, `[`, `?`…: CODEOWNERS would read it otherwise
    parts = path.split("/")
    deep = next((i for i, part in enumerate(parts) if "**" in part), None)
    if deep is None:
        return f"/{path}"
    return "/" + "/".join(parts[:deep]) + "/" if deep else None  # `**` at the top: every file


def codeowners_regex(path: str) -> str:
    """A CODEOWNERS path (`/file`, `/folder/`) as a Gitea/Forgejo rule: a Go regular expression
    the host anchors at both ends, over the path without its leading `/`, written with the
    file's own escape (each backslash doubled). The paths are plain (`_PATH`): only `.` is special."""
    body = path.lstrip("/")
    regex = _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(), body.rstrip("/"))
    regex += "/.*" if body.endswith("/") else ""
    return regex.replace("\\", "\\\\")


def signer_line(kind: str, public_key: str | None) -> str:
    """The allowed-signers line that lets `review --require-signed` trust the rotate job's
    commits: its committer address, git's signature namespace only, the public key."""
    if public_key is None:
        return f'{COMMITTER[kind]} namespaces="git" <the public key of {SIGNING_SECRET}>'
    found = _SSH_PUBLIC.fullmatch(public_key.strip())
    if found is None:
        raise BadInput(
            "--signing-key must be an SSH public key file (ssh-ed25519 AAAA… as ssh-keygen writes it)"
        )
    return f'{COMMITTER[kind]} namespaces="git" {found.group(1)} {found.group(2)}'


def setup(options: Options) -> Setup:
    signing = (
        "the rotate job's SSH private key (ssh-keygen -t ed25519 -N '' -C sealer-ci -f sealer-signing-key)"
    )
    secrets: tuple[Secret, ...]
    if options.kind == "gitlab":
        secrets = (
            Secret(
                "GITLAB_TOKEN",
                "project access token, role Developer, scopes api and write_repository; protected, masked",
            ),
            Secret(
                "SEALER_REVIEW_TOKEN", "project access token, role Reporter, scope api; masked, not protected"
            ),
            Secret(
                SIGNING_SECRET, f"{signing}, as one line: base64 -w0 sealer-signing-key; protected, masked"
            ),
        )
    elif options.kind in ACTIONS_HOSTS:
        host, token_var = ACTIONS_HOSTS[options.kind]
        secrets = (
            Secret(
                "secrets.SEALER_TOKEN",
                f"a {host} bot user's access token (scopes write:repository, write:issue, read:user), "
                f"a repository secret; the jobs hand it to sealer as {token_var}",
            ),
            Secret(f"secrets.{SIGNING_SECRET}", f"{signing}, the file's content"),
        )
    elif options.auth == "app":
        secrets = (
            Secret(
                "vars.SEALER_APP_CLIENT_ID",
                "the Client ID (Iv…, not the numeric App ID) of a GitHub App installed on this repository "
                "with Contents and Pull requests: read and write",
            ),
            Secret("secrets.SEALER_APP_PRIVATE_KEY", "the GitHub App's private key"),
            Secret(f"secrets.{SIGNING_SECRET}", f"{signing}, the file's content"),
        )
    else:
        secrets = (
            Secret(
                "secrets.SEALER_TOKEN",
                "fine-grained token for this repository: Contents and Pull requests: read and write",
            ),
            Secret(f"secrets.{SIGNING_SECRET}", f"{signing}, the file's content"),
        )
    environment = GITHUB_ENVIRONMENT if options.kind == "github" else None
    include = GITLAB_FILE if options.kind == "gitlab" else None
    settings: tuple[str, ...] = GITHUB_SETTINGS if options.kind == "github" else ()
    if options.kind == "gitlab":
        pin = (gitlab_image_setting(options.python),) if options.image is None else ()
        included = gitlab_include_settings(options.included)
        settings = (*pin, GITLAB_CI_FILE_SETTING, GITLAB_INCLUDES_SETTING, *included)
    return Setup(secrets, signer_line(options.kind, options.signing_key), environment, include, settings)


# What the written files rely on and cannot set: without them the gate and the pins do nothing.
GITHUB_SETTINGS = (
    "protect the default branch (Settings > Rules or Branches): require the status check `sealer` "
    "(the review gate) and review from Code Owners",
    "keep the actions' pinned commits current: .github/dependabot.yml with package-ecosystem: "
    "github-actions, directory: /",
)

# Review and CODEOWNERS know the pipeline by .gitlab-ci.yml: a path set in the project's settings
# is a pipeline neither reads nor owns.
GITLAB_CI_FILE_SETTING = (
    "keep the project's CI/CD configuration file (Settings > CI/CD > General pipelines) the default "
    f"{gitlab_includes.CI_FILE}: sealer review reads the gate's files from it and CODEOWNERS owns it, "
    "not a custom path, whose pipeline a merge request could change unreviewed"
)

# GitLab deep-merges every file .gitlab-ci.yml includes: CODEOWNERS owns .gitlab/ci/, not the others.
GITLAB_INCLUDES_SETTING = (
    f"keep every file .gitlab-ci.yml includes (include: local) in {GITLAB_DIR}/, which CODEOWNERS owns, "
    "or give it a CODEOWNERS rule: GitLab merges them into one pipeline, and a job sealer-review in "
    "any of them replaces the gate's image, before_script or script on the merge request's own pipeline"
)


def gitlab_include_settings(included: gitlab_includes.Includes) -> tuple[str, ...]:
    """What ci init found in .gitlab-ci.yml's includes and could not own."""
    unowned = include_rules(included)[1]
    told = [
        f"CODEOWNERS cannot name the include {path!r} as GitLab matches it: move it into {GITLAB_DIR}/ "
        "or own what it matches by hand"
        for path in unowned
    ]
    told += [
        f"ci init cannot tell every file {gitlab_includes.CI_FILE} includes ({why}): keep them in "
        f"{GITLAB_DIR}/ or own each in CODEOWNERS by hand"
        for why in included.unread
    ]
    if included.patterns:
        told.append(
            f"ci init does not read the includes of the files {', '.join(included.patterns)} match: "
            f"keep their includes in {GITLAB_DIR}/ too, or own each"
        )
    return tuple(told)


def gitlab_image_setting(python: str) -> str:
    """The GitLab jobs run on an image named by tag: whoever can push that tag runs code beside
    the project token and the signing key, so say how to pin it (ci init cannot look it up)."""
    return (
        f"pin the jobs' image python:{python} by digest: `sealer ci init gitlab --force --image "
        f"python:{python}@sha256:DIGEST` (the digest your registry shows for it; a tag can be moved "
        "onto other code, and these jobs hold the project token and the signing key)"
    )


def write(root: Path, options: Options) -> list[str]:
    """Write the files (refusing to replace any without --force); their relative paths."""
    files = render(options)
    _refuse_earlier_codeowners(root, options.kind)
    existing = [rel for rel in files if (root / rel).exists() or (root / rel).is_symlink()]
    if existing and not options.force:
        raise BadInput(f"{', '.join(sorted(existing))} exist already: give --force to replace them")
    for rel in sorted(files):
        repofiles.check_writable(root / rel)  # a symlink on the way stops it before the first write
    for rel in sorted(files):
        repofiles.write(root / rel, files[rel])  # makes the folders, never through a symlink
    return sorted(files)


def _refuse_earlier_codeowners(root: Path, kind: str) -> None:
    """The host reads the first of its CODEOWNERS files that exists: one it reads before the file
    written here (GitLab's and Gitea's root or docs/ CODEOWNERS) would leave sealer's owners
    unread by the host, while `review` read the file the host reads. --force does not replace
    it: it is the user's."""
    written = layout.CODEOWNERS_WRITTEN[kind]
    lookup = layout.CODEOWNERS_LOOKUP[kind]
    for rel in lookup[: lookup.index(written)]:
        if (root / rel).exists() or (root / rel).is_symlink():
            raise BadInput(
                f"{rel} exists and the host reads it instead of {written}: move its rules into "
                f"{written} (or sealer's into it) and remove it, then run `sealer ci init {kind}` again"
            )
