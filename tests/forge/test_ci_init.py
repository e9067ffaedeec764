"""`sealer ci init github|gitlab|gitea|forgejo`: the generated workflows validate against the published
schemas (check-jsonschema's vendored copies), run the commands that exist, pin sealer, and
cover sealer's trust anchors in CODEOWNERS; bad options change nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import sealer as cli
from support.git import commit_all, git

from sealer import hooksrepo, init
from sealer.errors import BadInput
from sealer.forge import workflows
from sealer.review import approvals, gitlab_ci

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GITHUB_FILES = [
    ".github/CODEOWNERS",
    ".github/workflows/sealer-review.yml",
    ".github/workflows/sealer-rotate.yml",
]
GITLAB_FILES = [".gitlab/CODEOWNERS", ".gitlab/ci/sealer.yml"]
TOKEN_VAR = {"gitea": "GITEA_TOKEN", "forgejo": "FORGEJO_TOKEN"}  # what sealer reads the token from


OWN_SOURCE = hooksrepo.HooksRepo("https://git.example.test/acme/sealer.git", COMMIT)


@pytest.fixture(autouse=True)
def installed_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where this sealer was installed from, as `ci init` finds it by default: a fixed https
    repository and commit, whatever checkout runs the tests."""
    monkeypatch.setattr(hooksrepo, "locate", lambda *a: OWN_SOURCE)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    init.init(tmp_path, ("staging",))
    return tmp_path


def check_schema(schema: str, *files: Path) -> None:
    runner = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(runner), "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


PINNED_ACTION = re.compile(r"[a-z0-9-]+/[a-z0-9-]+(/[a-z0-9-]+)?@[0-9a-f]{40}  # v[0-9]+\.[0-9]+\.[0-9]+")


def uses_lines(*files: Path) -> list[str]:
    return [
        line.split("uses:", 1)[1].strip()
        for path in files
        for line in path.read_text().splitlines()
        if line.lstrip(" -").startswith("uses:")
    ]


@pytest.mark.parametrize("auth", ["app", "token"])
def test_github_actions_are_pinned_to_a_commit_with_their_release_named(repo: Path, auth: str) -> None:
    result = cli(repo, "ci", "init", "github", "--owner", "@acme/platform", "--auth", auth)
    assert result.exit_code == 0, result.stderr
    used = uses_lines(*(repo / f for f in GITHUB_FILES[1:]))
    assert len(used) == (8 if auth == "app" else 7)
    assert all(PINNED_ACTION.fullmatch(line) for line in used), used


def test_the_app_token_asks_for_contents_and_pull_requests_only(repo: Path) -> None:
    assert cli(repo, "ci", "init", "github", "--owner", "@acme/platform").exit_code == 0
    rotate = yaml.safe_load((repo / GITHUB_FILES[2]).read_text())
    (step,) = [s for s in rotate["jobs"]["rotate"]["steps"] if "create-github-app-token" in s.get("uses", "")]
    assert step["with"] == {
        "client-id": "${{ vars.SEALER_APP_CLIENT_ID }}",
        "private-key": "${{ secrets.SEALER_APP_PRIVATE_KEY }}",
        "permission-contents": "write",
        "permission-pull-requests": "write",
    }


@pytest.mark.parametrize("kind", ["gitea", "forgejo"])
def test_mirrored_hosts_name_actions_by_a_major_tag(repo: Path, kind: str) -> None:
    """Their mirrors need not hold a given commit yet: a commit pin there could run nothing."""
    assert cli(repo, "ci", "init", kind, "--owner", "@acme").exit_code == 0
    used = uses_lines(*(repo / f".{kind}/workflows").iterdir())
    assert used and all(re.fullmatch(r"actions/[a-z-]+@v[0-9]+", line) for line in used), used


def test_github_workflows_validate_and_run_the_gate(repo: Path) -> None:
    result = cli(repo, "ci", "init", "github", "--owner", "@acme/platform", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert sorted(json.loads(result.stdout)["created"]) == GITHUB_FILES
    check_schema("vendor.github-workflows", *(repo / f for f in GITHUB_FILES[1:]))
    review = yaml.safe_load((repo / GITHUB_FILES[1]).read_text())
    runs = [step.get("run", "") for step in review["jobs"]["sealer"]["steps"]]
    gate = "sealer review --approvals-from codeowners --require-signed"
    gate += ' --trust-at "$BASE_SHA" "$BASE" "$HEAD_SHA"'
    assert any(gate in run for run in runs) and "sealer check" in runs
    assert "rm -f -- sealer.sarif && sealer scan --all-files --format sarif > sealer.sarif" in runs
    assert any(
        s.get("uses", "").startswith("github/codeql-action/upload-sarif")
        for s in review["jobs"]["sealer"]["steps"]
    )
    assert review["permissions"]["security-events"] == "write"
    rotate = yaml.safe_load((repo / GITHUB_FILES[2]).read_text())
    steps = rotate["jobs"]["rotate"]["steps"]
    assert steps[0]["uses"].startswith("actions/create-github-app-token")
    assert [s["run"] for s in steps if "run" in s][
        -1
    ] == "sealer rotate --due --push origin --open-pr --output json"
    assert rotate[True]["schedule"] == [{"cron": "23 4 * * *"}]  # PyYAML reads `on` as True
    # the deployed phase (#14): after a merge that changes the ledger, on the default branch only
    assert rotate[True]["push"] == {"paths": ["ledger/**"]} and "push" in rotate["jobs"]["finish"]["if"]
    assert rotate["jobs"]["rotate"]["if"] == "github.event_name != 'push'"
    finish = rotate["jobs"]["finish"]["steps"]
    assert finish[-1]["run"] == "sealer rotate --finish --output json"
    # the checkout fetched every branch, pruned; a `git fetch` after it has no credentials (they
    # are not persisted) and failed the job on every private repository
    assert finish[0]["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert not any("git fetch" in s.get("run", "") for s in finish)
    # sealer is not a published package: by default CI installs the commit this sealer came from
    assert f"sealer @ git+{OWN_SOURCE.url}@{COMMIT}" in (repo / GITHUB_FILES[2]).read_text()
    assert "sealer==" not in (repo / GITHUB_FILES[1]).read_text()


@pytest.mark.parametrize(
    "source",
    [
        hooksrepo.HooksRepo("/home/me/src/sealer", COMMIT),  # a local checkout CI cannot reach
        hooksrepo.HooksRepo(OWN_SOURCE.url, "v1.0.0"),  # a tag, not a commit id
        None,  # installed from a wheel: nothing to name
    ],
)
def test_without_a_reachable_source_ci_init_asks_for_one(
    repo: Path, monkeypatch: pytest.MonkeyPatch, source: hooksrepo.HooksRepo | None
) -> None:
    def locate(*_: object) -> hooksrepo.HooksRepo:
        if source is None:
            raise BadInput("sealer was not installed from a Git repository")
        return source

    monkeypatch.setattr(hooksrepo, "locate", locate)
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "not a published package" in result.stderr and "--git https://HOST/PATH@COMMIT" in result.stderr
    assert not (repo / ".gitlab").exists()


def test_github_with_a_fine_grained_token_and_a_commit_pin(repo: Path) -> None:
    pin = f"https://git.example.test/acme/sealer.git@{COMMIT}"
    result = cli(repo, "ci", "init", "github", "--owner", "@acme", "--auth", "token", "--git", pin)
    assert result.exit_code == 0, result.stderr
    text = (repo / GITHUB_FILES[2]).read_text()
    assert "secrets.SEALER_TOKEN" in text and "create-github-app-token" not in text
    assert f"sealer @ git+https://git.example.test/acme/sealer.git@{COMMIT}" in text
    check_schema("vendor.github-workflows", repo / GITHUB_FILES[2])


@pytest.mark.parametrize("auth", ["app", "token"])
def test_github_secrets_live_in_an_environment_of_the_default_branch(repo: Path, auth: str) -> None:
    """A repository secret reaches a workflow on any branch, and anyone who may push a branch can
    write one that prints it: the jobs that use the signing key and the token run in the
    environment `sealer`, whose secrets its deployment branches (the default one) alone get;
    `ci init` says so. The review gate uses no secret and no environment."""
    result = cli(repo, "ci", "init", "github", "--owner", "@acme", "--auth", auth, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rotate = yaml.safe_load((repo / GITHUB_FILES[2]).read_text())
    assert {name: job.get("environment") for name, job in rotate["jobs"].items()} == {
        "rotate": "sealer",
        "finish": "sealer",
    }
    review = yaml.safe_load((repo / GITHUB_FILES[1]).read_text())
    assert "environment" not in review["jobs"]["sealer"]
    assert "secrets." not in (repo / GITHUB_FILES[1]).read_text()
    told = json.loads(result.stdout)
    assert told["environment"] == {"name": "sealer", "deployment_branches": "default branch only"}
    text = cli(repo, "ci", "init", "github", "--owner", "@acme", "--auth", auth, "--force").stdout
    assert "create the environment sealer (Settings > Environments) with its deployment branches" in text
    assert "branches limited to the default branch, and what follows in it" in text
    check_schema("vendor.github-workflows", repo / GITHUB_FILES[2])


def test_github_says_what_a_newcomer_must_set_up_beyond_the_files(repo: Path) -> None:
    """The printed next steps are all a newcomer follows: the App by its Client ID (the token
    action's `client-id`, not the numeric App ID) installed on the repository, the review gate a
    required check with Code Owners' review (else nothing it finds blocks a merge), and
    Dependabot for the pinned actions (the README promises it updates them)."""
    text = cli(repo, "ci", "init", "github", "--owner", "@acme").stdout
    assert (
        "create vars.SEALER_APP_CLIENT_ID: the Client ID (Iv…, not the numeric App ID) of a GitHub App"
        in text
    )
    assert "installed on this repository with Contents and Pull requests: read and write" in text
    assert "require the status check `sealer` (the review gate) and review from Code Owners" in text
    assert ".github/dependabot.yml with package-ecosystem: github-actions" in text
    review = yaml.safe_load((repo / GITHUB_FILES[1]).read_text())
    assert list(review["jobs"]) == ["sealer"]  # the check's name the line gives
    told = json.loads(cli(repo, "ci", "init", "github", "--owner", "@acme", "--force", "-o", "json").stdout)
    assert [s.split(":")[0] for s in told["settings"]] == [
        "protect the default branch (Settings > Rules or Branches)",
        "keep the actions' pinned commits current",
    ]
    gitlab = cli(repo, "ci", "init", "gitlab", "--owner", "@acme").stdout
    assert "dependabot" not in gitlab


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_gitlab_says_to_pin_its_image_by_digest(repo: Path) -> None:
    """GitLab's jobs run on an image: by tag (`python:3.12`) whoever can move the tag runs code
    beside the project token and the signing key, so the next steps say how to pin it, and
    `--image NAME@sha256:DIGEST` pins it (then nothing is left to say about it)."""
    told = json.loads(
        cli(repo, "ci", "init", "gitlab", "--owner", "@acme", "--python", "3.11", "-o", "json").stdout
    )
    setting, ci_file, includes = told["settings"]
    assert (ci_file, includes) == (workflows.GITLAB_CI_FILE_SETTING, workflows.GITLAB_INCLUDES_SETTING)
    assert setting.startswith(
        "pin the jobs' image python:3.11 by digest: `sealer ci init gitlab --force --image"
    )
    assert load(repo, GITLAB_FILES[1])[".sealer"]["image"] == "python:3.11"
    pinned = f"python:3.11@{DIGEST}"
    told = json.loads(
        cli(
            repo, "ci", "init", "gitlab", "--owner", "@acme", "--force", "--image", pinned, "-o", "json"
        ).stdout
    )
    assert told["settings"] == [workflows.GITLAB_CI_FILE_SETTING, workflows.GITLAB_INCLUDES_SETTING]
    assert load(repo, GITLAB_FILES[1])[".sealer"]["image"] == pinned
    check_schema("vendor.gitlab-ci", repo / GITLAB_FILES[1])


@pytest.mark.parametrize(
    ("kind", "image", "message"),
    [
        ("gitlab", "python:3.12", "is not pinned: give NAME@sha256:DIGEST"),
        ("gitlab", f"python:3.12@{DIGEST[:-1]}", "is not pinned"),
        ("gitlab", f"python:3.12@{DIGEST}\nx: 1", "is not pinned"),
        ("gitlab", f"python:3.12@{DIGEST.upper()}", "is not pinned"),
        ("github", f"python:3.12@{DIGEST}", "--image is GitLab's"),
        ("gitea", f"python:3.12@{DIGEST}", "--image is GitLab's"),
    ],
)
def test_an_image_not_pinned_by_digest_writes_nothing(
    repo: Path, kind: str, image: str, message: str
) -> None:
    extra = ["--auth", "token"] if kind == "gitea" else []
    result = cli(repo, "ci", "init", kind, "--owner", "@acme", "--image", image, *extra)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (repo / f".{kind}").exists()


def test_gitlab_says_to_include_its_pipeline_file(repo: Path) -> None:
    """GitLab runs .gitlab-ci.yml alone: ci init's file does nothing until it is included, and
    the printed next steps were all a newcomer followed."""
    text = cli(repo, "ci", "init", "gitlab", "--owner", "@acme").stdout
    assert f"\n  add to .gitlab-ci.yml: include: '/{GITLAB_FILES[1]}' (nothing runs" in text
    told = json.loads(cli(repo, "ci", "init", "gitlab", "--owner", "@acme", "--force", "-o", "json").stdout)
    assert told["include"] == {"file": ".gitlab-ci.yml", "include": f"/{GITLAB_FILES[1]}"}  # a pipeline's too
    github = cli(repo, "ci", "init", "github", "--owner", "@acme").stdout
    assert ".gitlab-ci.yml" not in github
    told = json.loads(cli(repo, "ci", "init", "github", "--owner", "@acme", "--force", "-o", "json").stdout)
    assert "include" not in told


def test_other_hosts_name_no_environment(repo: Path) -> None:
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "environment" not in json.loads(result.stdout)


def _scan_script(repo: Path, kind: str) -> str:
    """The shell lines of the generated scan step (GitHub, Gitea, Forgejo) or job (GitLab)."""
    if kind == "gitlab":
        return "\n".join(yaml.safe_load((repo / GITLAB_FILES[1]).read_text())["sealer-scan"]["script"])
    review = yaml.safe_load((repo / f".{kind}/workflows/sealer-review.yml").read_text())
    return next(s["run"] for s in review["jobs"]["sealer"]["steps"] if "sealer scan" in s.get("run", ""))


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea", "forgejo"])
def test_a_committed_sarif_symlink_is_not_written_through(
    repo: Path, kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A pull request that commits sealer.sarif as a link to a file of the runner's user (its
    ~/.gitconfig on a host-mode runner) must not get that file overwritten by the scan step."""
    extra = {"gitlab": ["--version", "1.2.3"], "github": []}.get(kind, ["--auth", "token"])
    args = ["--owner", "@acme", *extra]
    assert cli(repo, "ci", "init", kind, *args).exit_code == 0
    victim = tmp_path_factory.mktemp("runner-home") / ".gitconfig"
    victim.write_text("[user]\n\tname = runner\n")
    (repo / "sealer.sarif").symlink_to(victim)
    commit_all(repo, "a pull request's link")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(victim.parent)}
    script = _scan_script(repo, kind)
    done = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True)
    assert victim.read_text() == "[user]\n\tname = runner\n", done.stderr
    written = repo / "sealer.sarif"
    assert not written.is_symlink() and json.loads(written.read_text())["runs"]


def test_gitlab_pipeline_validates(repo: Path) -> None:
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform", "--version", "1.2.3")
    assert result.exit_code == 0, result.stderr
    check_schema("vendor.gitlab-ci", repo / GITLAB_FILES[1])
    pipeline = yaml.safe_load((repo / GITLAB_FILES[1]).read_text())
    assert pipeline["variables"]["SEALER_PACKAGE"] == "sealer==1.2.3"
    assert "sealer rotate --due --push origin --open-pr --output json" in pipeline["sealer-rotate"]["script"]
    assert pipeline["sealer-scan"]["artifacts"]["paths"] == ["sealer.sarif"]
    assert "GITLAB_TOKEN" not in pipeline["sealer-rotate"]["script"][0]  # never in the remote URL
    # every branch fetched before --due, so that one whose rotation waits there is skipped
    rotate = pipeline["sealer-rotate"]["script"]
    fetch = rotate.index("git fetch --prune origin '+refs/heads/*:refs/remotes/origin/*'")
    assert rotate[fetch - 1].startswith("git config credential.helper ") and fetch < rotate.index(
        "sealer rotate --due --push origin --open-pr --output json"
    )
    finish = pipeline["sealer-finish"]  # the deployed phase (#14), after a merge changing the ledger
    assert finish["script"] == ["git fetch --prune origin", "sealer rotate --finish --output json"]
    assert (
        finish["rules"][0]["changes"] == ["ledger/**/*"] and "CI_DEFAULT_BRANCH" in finish["rules"][0]["if"]
    )


@pytest.mark.parametrize(("kind", "owners_file"), [("github", GITHUB_FILES[0]), ("gitlab", GITLAB_FILES[0])])
def test_codeowners_covers_the_trust_anchors(repo: Path, kind: str, owners_file: str) -> None:
    args = ["ci", "init", kind, "--owner", "@acme/platform", "--owner", "sec@acme.example"]
    assert cli(repo, *args, "--policy-file", "policy/keys.yaml").exit_code == 0
    rules = {
        line.split()[0]: line.split()[1:]
        for line in (repo / owners_file).read_text().splitlines()
        if line and not line.startswith("#")
    }
    anchors = ("/sealer.yaml", "/certs/", "/ledger/", "/registry/", "/.sealer/", "/policy/keys.yaml")
    for path in (*anchors, f"/{owners_file}"):
        assert rules[path] == ["@acme/platform", "sec@acme.example"], path
    if kind == "github":  # every workflow: another one's job `sealer` would report the same check
        assert rules["/.github/workflows/"] == ["@acme/platform", "sec@acme.example"]


def test_a_gitlab_file_beside_the_gate_needs_a_code_owner(repo: Path) -> None:
    """GitLab deep-merges every file .gitlab-ci.yml includes: a merge request editing another one
    in .gitlab/ci/ with `sealer-review: {image: …}` (or `before_script:`) runs the gate in its own
    image, on the merge request's own pipeline. Every file of the folder is the code owners', as
    review counts each a gate file (trust-anchor-change)."""
    assert cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform").exit_code == 0
    commit_all(repo, "ci")
    owners = approvals.codeowners_at(repo, "HEAD", {"SEALER_FORGE": "gitlab"})
    assert owners is not None
    for path in (".gitlab-ci.yml", GITLAB_FILES[1], ".gitlab/ci/lint.yml", ".gitlab/ci/jobs/build.yml"):
        assert owners.owners(path) == ("@acme/platform",), path
    told = cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform", "--force").stdout
    assert "keep every file .gitlab-ci.yml includes (include: local) in .gitlab/ci/" in told


GITLAB_CI = """include:
  - local: /ci/build.yml
  - 'jobs/*.yml'
  - {local: 'deploy/**/*.yml', rules: [{if: $CI_COMMIT_BRANCH}]}
  - .gitlab/ci/own.yml
  - project: acme/templates
    file: /shared.yml
  - remote: https://ci.example.test/remote.yml
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/gate@$CI_COMMIT_SHA
job:
  script: !reference [.base, script]
"""


def test_gitlab_owns_what_the_repositorys_gitlab_ci_yml_includes(repo: Path) -> None:
    """A job sealer-review in any file .gitlab-ci.yml includes (its includes' includes too) replaces
    the gate's image or script: ci init owns each outside .gitlab/ci/, a wildcard as GitLab matches it."""
    (repo / "ci").mkdir()
    (repo / ".gitlab/ci").mkdir(parents=True)
    (repo / ".gitlab-ci.yml").write_text(GITLAB_CI)
    (repo / "ci/build.yml").write_text("include: /ci/nested.yml\n")
    (repo / ".gitlab/ci/own.yml").write_text("include: [/other.yml]\n")
    assert cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform").exit_code == 0
    commit_all(repo, "ci")
    owners = approvals.codeowners_at(repo, "HEAD", {"SEALER_FORGE": "gitlab"})
    assert owners is not None
    for path, gitlab_merges in [
        ("ci/build.yml", True),
        ("ci/nested.yml", True),
        ("other.yml", True),
        ("jobs/lint.yml", True),
        ("jobs/.hidden.yml", True),
        ("deploy/app.yml", True),
        ("deploy/a/b/app.yml", True),
        ("templates/gate.yml", True),  # this project's component at the merge request's commit
        ("templates/gate/template.yml", True),
        ("jobs/deep/x.yml", False),
        ("shared.yml", False),
        ("remote.yml", False),
    ]:
        assert bool(owners.owners(path)) == gitlab_merges, path
    for pattern in ("jobs/*.yml", "deploy/**/*.yml"):  # everything GitLab's own grammar matches
        for path in ("jobs/a.yml", "jobs/.b.yml", "jobs/c/d.yml", "deploy/x.yml", "deploy/y/z.yml"):
            assert not gitlab_ci.glob(pattern).fullmatch(path) or owners.owners(path), (pattern, path)


def test_gitlab_tells_the_includes_it_cannot_own(repo: Path) -> None:
    (repo / ".gitlab-ci.yml").write_text(
        "include: ['odd name.yml', '**.yml', '/ci/$ENV.yml', /linked.yml, 'jobs/*.yml']\n"
    )
    (repo / "linked.yml").symlink_to("elsewhere.yml")
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme", "-o", "json")
    assert result.exit_code == 0, result.stderr
    told = "\n".join(json.loads(result.stdout)["settings"])
    assert "CODEOWNERS cannot name the include 'odd name.yml' as GitLab matches it" in told
    assert "CODEOWNERS cannot name the include '**.yml'" in told
    assert "(.gitlab-ci.yml: include (line 1) '/ci/$ENV.yml' names a variable)" in told
    assert "linked.yml: it is a symlink" in told  # its own includes unread, never followed
    assert "ci init does not read the includes of the files **.yml, jobs/*.yml match" in told
    rules = (repo / GITLAB_FILES[0]).read_text()
    assert "/linked.yml @acme\n" in rules and "/jobs/*.yml @acme\n" in rules
    assert "odd" not in rules and "$" not in rules and "\n/ @acme" not in rules


def test_existing_files_stay_unless_forced(repo: Path) -> None:
    (repo / ".github").mkdir()
    (repo / ".github/CODEOWNERS").write_text("* @me\n")
    result = cli(repo, "ci", "init", "github", "--owner", "@acme")
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (repo / ".github/CODEOWNERS").read_text() == "* @me\n" and not (
        repo / ".github/workflows"
    ).exists()
    assert cli(repo, "ci", "init", "github", "--owner", "@acme", "--force").exit_code == 0
    assert "@acme" in (repo / ".github/CODEOWNERS").read_text()


@pytest.mark.parametrize(
    ("kind", "earlier"),
    [
        ("gitlab", "CODEOWNERS"),
        ("gitlab", "docs/CODEOWNERS"),
        ("gitea", "docs/CODEOWNERS"),
        ("forgejo", ".gitea/CODEOWNERS"),
    ],
)
def test_a_codeowners_the_host_reads_first_is_refused(repo: Path, kind: str, earlier: str) -> None:
    """The host would read that file, not the one written: sealer's owners would be unenforced
    (and review reads the host's). Refused, exit 2, nothing written, the user's file kept."""
    (repo / earlier).parent.mkdir(exist_ok=True)
    (repo / earlier).write_text("* @me\n")
    result = cli(
        repo, "ci", "init", kind, "--owner", "@acme", *(["--auth", "token"] if kind == "github" else [])
    )
    assert result.exit_code == 2 and f"{earlier} exists and the host reads it" in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and (repo / earlier).read_text() == "* @me\n"
    assert not (repo / f".{kind}").exists()


def test_github_reads_its_own_codeowners_first(repo: Path) -> None:
    """GitHub reads .github/CODEOWNERS before the root's: a root CODEOWNERS stays beside it."""
    (repo / "CODEOWNERS").write_text("* @me\n")
    assert cli(repo, "ci", "init", "github", "--owner", "@acme").exit_code == 0
    assert (repo / ".github/CODEOWNERS").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "@acme\n- run: curl evil"], "--owner"),
        (["--owner", "@acme/platform/infra"], "--owner"),  # GitHub skips the rule: no owner at all
        (["--owner", "@acme", "--schedule", "* * * * *\nevil: 1"], "--schedule"),
        (["--owner", "@acme", "--version", "1.0; rm -rf /"], "--version"),
        # pip would install the file `sealer==1.0.whl` of the pull request's checkout
        (["--owner", "@acme", "--version", "1.0.whl"], "--version"),
        (["--owner", "@acme", "--version", "1.0+local.tar.gz"], "--version"),
        (["--owner", "@acme", "--git", "https://h.example/x.git@main"], "--git"),
        (["--owner", "@acme", "--git", f"http://h.example/x.git@{COMMIT}"], "--git"),
        (["--owner", "@acme", "--python", "3.12\nx: 1"], "--python"),
        (["--owner", "@acme", "--policy-file", "../outside.yaml"], "--policy-file"),
        (["--owner", "@acme", "--version", "1.0", "--git", f"https://h.example/x.git@{COMMIT}"], "exclude"),
    ],
)
def test_bad_options_write_nothing(repo: Path, args: list[str], message: str) -> None:
    result = cli(repo, "ci", "init", "github", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert not (repo / ".github").exists()


def test_a_symlinked_folder_is_not_written_through(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (repo / ".github").symlink_to(outside)
    result = cli(repo, "ci", "init", "github", "--owner", "@acme")
    assert result.exit_code == 2 and "symlink" in result.stderr and list(outside.iterdir()) == []


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea", "forgejo"])
def test_installing_sealer_never_imports_from_the_checkout(repo: Path, kind: str) -> None:
    """The jobs run in the pull request's checkout, and `python -m pip` puts the working folder
    first on sys.path: a `pip/__main__.py` the author added would run instead of pip, and
    replace the sealer the gate then runs (a green gate for anything)."""
    assert cli(repo, "ci", "init", kind, "--owner", "@acme/platform").exit_code == 0
    texts = [p.read_text() for p in (repo / f".{kind}").rglob("*.yml")]
    commands = [line for text in texts for line in text.splitlines() if "python" in line and " -m " in line]
    assert commands and all("python -I -m pip" in line for line in commands), commands


# -- Gitea and Forgejo: GitHub's workflow syntax under .gitea/ or .forgejo/, the bot user's token
# in a secret the host accepts, the SARIF kept as an artifact, the review comment through
# sealer's Gitea forge, and CODEOWNERS in the host's regular-expression dialect covering what
# the GitHub file covers.


@pytest.fixture(params=["gitea", "forgejo"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def files_of(kind: str) -> dict[str, str]:
    return {
        "owners": f".{kind}/CODEOWNERS",
        "review": f".{kind}/workflows/sealer-review.yml",
        "rotate": f".{kind}/workflows/sealer-rotate.yml",
    }


def ci_init(repo: Path, kind: str, *args: str) -> dict[str, Any]:
    result = cli(repo, "ci", "init", kind, "--owner", "@acme/platform", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def load(repo: Path, rel: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((repo / rel).read_text()))


def test_the_workflows_validate_and_run_the_gate(repo: Path, kind: str) -> None:
    told = ci_init(repo, kind)
    paths = files_of(kind)
    assert sorted(told["created"]) == sorted(paths.values())
    runner = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(runner), "--builtin-schema", "vendor.github-workflows", str(repo / paths["review"])]
        + [str(repo / paths["rotate"])],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    review = load(repo, paths["review"])
    assert "permissions" not in review  # the host ignores it: nothing may rely on it
    steps = review["jobs"]["sealer"]["steps"]
    assert steps[0]["with"] == {"fetch-depth": 0, "persist-credentials": False}
    runs = [step.get("run", "") for step in steps]
    gate = 'sealer review "$@" --require-signed --trust-at "$BASE_SHA" "$BASE" "$HEAD_SHA"'
    assert any(gate in run for run in runs) and "sealer check" in runs  # "$@": see the next test
    assert "rm -f -- sealer.sarif && sealer scan --all-files --format sarif > sealer.sarif" in runs
    uses = [step.get("uses", "") for step in steps]
    assert not any("codeql" in u for u in uses)  # no code scanning to upload to
    (artifact,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert artifact["uses"] == "actions/upload-artifact@v3" and artifact["with"]["path"] == "sealer.sarif"
    assert artifact["if"] == "${{ !cancelled() }}"  # the findings are kept when the gate fails
    # only the comment step holds a token: the job's own, for a pull request from this repository
    with_token = [s for s in steps if any("token" in str(v) for v in s.get("env", {}).values())]
    (comment,) = with_token
    assert comment["env"][TOKEN_VAR[kind]] == "${{ github.token }}" and comment["env"]["SEALER_FORGE"] == kind
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert "--post --output markdown" in comment["run"] and "GITHUB_STEP_SUMMARY" not in comment["run"]


@pytest.mark.parametrize("kind", ["github", "gitea", "forgejo"])
def test_the_gate_runs_again_when_a_pull_request_changes_its_base(repo: Path, kind: str) -> None:
    """A pull request reviewed against a branch that holds its changes already, then moved onto
    the default branch, must not keep that run's result: `edited` (the base changed) runs it again."""
    args = ["--owner", "@acme/platform"] + (["--auth", "token"] if kind != "github" else [])
    assert cli(repo, "ci", "init", kind, *args).exit_code == 0
    review = yaml.safe_load((repo / f".{kind}/workflows/sealer-review.yml").read_text())
    assert set(review[True]["pull_request"]["types"]) >= {"opened", "synchronize", "reopened", "edited"}


def test_a_workflow_added_beside_the_gate_needs_a_code_owner(repo: Path, kind: str) -> None:
    """The host names a job's status `<workflow name> / <job> (<event>)` and keeps the latest per
    name: a pull request adding `.gitea/workflows/x.yml` with `name: sealer review` and a job
    `sealer` that passes would stand in for the gate. Every workflow is the code owners'."""
    assert cli(repo, "ci", "init", kind, "--owner", "@acme/platform").exit_code == 0
    commit_all(repo, "ci")
    owners = approvals.codeowners_at(repo, "HEAD", {"SEALER_FORGE": kind})
    assert owners is not None
    text = (repo / files_of(kind)["owners"]).read_text()
    for path in (
        f".{kind}/workflows/impostor.yml",
        f".{kind}/workflows/sub/x.yaml",
        files_of(kind)["review"],
    ):
        assert owners.owners(path) == ("@acme/platform",) and owned(text, path), path


@pytest.mark.parametrize(
    ("target", "default", "counted"),
    [("main", "main", True), ("release", "main", False), ("", "", False)],
)
def test_code_owners_count_only_on_a_pull_request_into_the_default_branch(
    repo: Path, kind: str, tmp_path: Path, target: str, default: str, counted: bool
) -> None:
    """Gitea and Forgejo read CODEOWNERS on the default branch whatever a pull request targets:
    into another branch, the host's code owner review follows a file sealer never read (its own
    at BASE), so there no finding passes as the code owners'."""
    ci_init(repo, kind)
    head = commit_all(repo, "ci")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sealer").write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$SEALER_CALLS"\n')
    (fake / "sealer").chmod(0o755)
    calls = tmp_path / "calls"
    steps = load(repo, files_of(kind)["review"])["jobs"]["sealer"]["steps"]
    for step in steps:
        if "sealer review" not in step.get("run", ""):
            continue
        env = {
            **{name: value for name, value in step["env"].items() if "${{" not in str(value)},
            "BASE_SHA": head,
            "HEAD_SHA": head,
            "TARGET_BRANCH": target,
            "DEFAULT_BRANCH": default,
            "SEALER_CALLS": str(calls),
            "PATH": f"{fake}:/usr/bin:/bin",
        }
        assert step["env"]["SEALER_FORGE"] == kind  # the host's CODEOWNERS, whatever the runner sets
        assert step["env"]["TARGET_BRANCH"] == "${{ github.base_ref }}"
        assert step["env"]["DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    reviews = calls.read_text().splitlines()
    assert len(reviews) == 2 and all("--require-signed" in r for r in reviews)  # the gate and the comment
    assert all(("--approvals-from codeowners" in r) == counted for r in reviews), reviews


def test_the_rotate_workflow_uses_the_bot_token_under_a_name_the_host_accepts(repo: Path, kind: str) -> None:
    ci_init(repo, kind, "--schedule", "5 3 * * 1")
    text = (repo / files_of(kind)["rotate"]).read_text()
    rotate = yaml.safe_load(text)
    # Gitea refuses secret names starting with GITHUB_ or GITEA_ (Forgejo likewise, and FORGEJO_)
    named = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
    assert named == {"SEALER_TOKEN", "SEALER_SIGNING_KEY"}
    assert "create-github-app-token" not in text and "permissions" not in rotate
    assert rotate[True]["schedule"] == [{"cron": "5 3 * * 1"}]
    assert rotate[True]["push"] == {"paths": ["ledger/**"]}
    steps = rotate["jobs"]["rotate"]["steps"]
    assert steps[0]["with"]["token"] == "${{ secrets.SEALER_TOKEN }}"  # pushes as the bot user
    (run,) = [s for s in steps if s.get("run") == "sealer rotate --due --push origin --open-pr --output json"]
    assert run["env"][TOKEN_VAR[kind]] == "${{ secrets.SEALER_TOKEN }}" and run["env"]["SEALER_FORGE"] == kind
    assert "GITHUB_TOKEN" not in run["env"]
    assert run["env"]["GIT_COMMITTER_EMAIL"] == "sealer@noreply.invalid"
    assert steps[-1]["if"] == "${{ always() }}" and "user.signingkey" in steps[-1]["run"]
    finish = rotate["jobs"]["finish"]
    assert "push" in finish["if"] and "default_branch" in finish["if"]
    assert finish["steps"][0]["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert finish["steps"][-1]["run"] == "sealer rotate --finish --output json"
    assert f"sealer @ git+{OWN_SOURCE.url}@{COMMIT}" in text


def test_the_secrets_to_create_and_the_signer_line(repo: Path, kind: str, tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    told = ci_init(repo, kind, "--signing-key", str(key.with_suffix(".pub")))
    names = [secret["name"] for secret in told["secrets"]]
    assert names == ["secrets.SEALER_TOKEN", "secrets.SEALER_SIGNING_KEY"]
    assert TOKEN_VAR[kind] in told["secrets"][0]["holds"]
    public = key.with_suffix(".pub").read_text().split()
    assert told["allowed_signers"] == {
        "file": ".sealer/allowed_signers",
        "line": f'sealer@noreply.invalid namespaces="git" {public[0]} {public[1]}',
    }
    text = cli(repo, "ci", "init", kind, "--owner", "@acme", "--force").stdout
    assert "create secrets.SEALER_TOKEN:" in text and f"wrote .{kind}/CODEOWNERS" in text


def owned(codeowners: str, path: str) -> bool:
    """The host's reading, spelt independently of sealer's: each rule's backslashes undone
    (the file's escape), then `^rule$` as a regular expression."""
    for line in codeowners.splitlines():
        if line and not line.startswith("#"):
            rule = line.split()[0].replace("\\\\", "\\")
            if re.fullmatch(rule, path):
                return True
    return False


def test_codeowners_covers_what_the_github_file_covers(repo: Path, kind: str) -> None:
    args = ["--owner", "@acme/platform", "--owner", "@sec", "--policy-file", "policy/keys.yaml"]
    assert cli(repo, "ci", "init", kind, *args).exit_code == 0
    assert cli(repo, "ci", "init", "github", *args).exit_code == 0
    github = (repo / ".github/CODEOWNERS").read_text().replace(".github/", f".{kind}/")
    ours = (repo / files_of(kind)["owners"]).read_text()
    rules = [line for line in ours.splitlines() if line and not line.startswith("#")]
    assert all(line.split()[1:] == ["@acme/platform", "@sec"] for line in rules)
    github_paths = [line.split()[0] for line in github.splitlines() if line and not line.startswith("#")]
    assert len(rules) == len(github_paths)
    for path in github_paths:  # every file and a file in every folder the GitHub file owns
        probe = path.lstrip("/") + ("x.pem" if path.endswith("/") else "")
        assert owned(ours, probe), probe
    for path in ("README.md", "deploy/staging.yaml", "xsealer.yaml", "sealer-yaml", "certs", "a/.sealer/x"):
        assert not owned(ours, path), path


def test_sealers_gate_reads_the_file_as_the_host_does(repo: Path, kind: str) -> None:
    """review --approvals-from codeowners, under the host's Actions, finds the written file in
    the host's lookup order and reads its rules as regular expressions."""
    assert cli(repo, "ci", "init", kind, "--owner", "@acme/platform").exit_code == 0
    commit_all(repo, "ci")
    env = {"SEALER_FORGE": kind}
    owners = approvals.codeowners_at(repo, "HEAD", env)
    assert owners is not None
    for path in ("sealer.yaml", "certs/staging.pem", ".sealer/allowed_signers", files_of(kind)["rotate"]):
        assert owners.owners(path) == ("@acme/platform",), path
    assert owners.owners("deploy/staging.yaml") == () and owners.owners("xsealer.yaml") == ()
    marks = {"gitea": "GITEA_ACTIONS", "forgejo": "FORGEJO_ACTIONS"}
    assert approvals.codeowners_at(repo, "HEAD", {marks[kind]: "true"}) is not None
    # GitHub and GitLab never read .gitea/ or .forgejo/: there, nobody owns anything
    assert approvals.codeowners_at(repo, "HEAD", {}) is None
    # the host reads the first file it finds: a root CODEOWNERS shadows the written one
    (repo / "CODEOWNERS").write_text("README\\\\.md @someone\n")
    commit_all(repo, "a root CODEOWNERS")
    shadowed = approvals.codeowners_at(repo, "HEAD", env)
    assert shadowed is not None and shadowed.owners("sealer.yaml") == ()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "sec@acme.example"], "@user or @org/team only"),
        (["--owner", "@acme", "--auth", "app"], "--auth app"),
        (["--owner", "@acme", "--schedule", "* * * * *\nevil: 1"], "--schedule"),
        (["--owner", "@acme\n- run: curl evil"], "--owner"),
        (["--owner", "@acme/platform/infra"], "--owner"),  # the host skips the rule: no owner at all
        (["--owner", "@acme", "--policy-file", "../outside.yaml"], "--policy-file"),
    ],
)
def test_gitea_bad_options_write_nothing(repo: Path, kind: str, args: list[str], message: str) -> None:
    result = cli(repo, "ci", "init", kind, *args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert not (repo / f".{kind}").exists()


def test_gitea_existing_files_stay_unless_forced(repo: Path, kind: str) -> None:
    owners = repo / files_of(kind)["owners"]
    owners.parent.mkdir()
    owners.write_text(".* @me\n")
    result = cli(repo, "ci", "init", kind, "--owner", "@acme")
    assert result.exit_code == 2 and "--force" in result.stderr
    assert owners.read_text() == ".* @me\n" and not (repo / f".{kind}/workflows").exists()
    assert cli(repo, "ci", "init", kind, "--owner", "@acme", "--force").exit_code == 0
    assert "@acme" in owners.read_text() and (repo / files_of(kind)["review"]).exists()


def test_gitlab_takes_an_owner_in_a_subgroup(repo: Path) -> None:
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform/infra", "--version", "1.2.3")
    assert result.exit_code == 0, result.stderr
    assert "/sealer.yaml @acme/platform/infra" in (repo / ".gitlab/CODEOWNERS").read_text()
