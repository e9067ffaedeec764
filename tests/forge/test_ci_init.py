"""`sealer ci init github|gitlab`: the generated workflows validate against the published
schemas (check-jsonschema's vendored copies), run the commands that exist, pin sealer, and
cover sealer's trust anchors in CODEOWNERS; bad options change nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.cli import sealer as cli
from support.git import git

from sealer import hooksrepo, init
from sealer.errors import BadInput

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GITHUB_FILES = [
    ".github/CODEOWNERS",
    ".github/workflows/sealer-review.yml",
    ".github/workflows/sealer-rotate.yml",
]
GITLAB_FILES = [".gitlab/CODEOWNERS", ".gitlab/ci/sealer.yml"]


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


def test_github_workflows_validate_and_run_the_gate(repo: Path) -> None:
    result = cli(repo, "ci", "init", "github", "--owner", "@acme/platform", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert sorted(__import__("json").loads(result.stdout)["created"]) == GITHUB_FILES
    check_schema("vendor.github-workflows", *(repo / f for f in GITHUB_FILES[1:]))
    review = yaml.safe_load((repo / GITHUB_FILES[1]).read_text())
    runs = [step.get("run", "") for step in review["jobs"]["sealer"]["steps"]]
    gate = "sealer review --approvals-from codeowners --require-signed"
    gate += ' --trust-at "$BASE_SHA" "$BASE" "$HEAD_SHA"'
    assert any(gate in run for run in runs) and "sealer check" in runs
    assert "sealer scan --all-files --format sarif > sealer.sarif" in runs
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


def test_gitlab_pipeline_validates(repo: Path) -> None:
    result = cli(repo, "ci", "init", "gitlab", "--owner", "@acme/platform", "--version", "1.2.3")
    assert result.exit_code == 0, result.stderr
    check_schema("vendor.gitlab-ci", repo / GITLAB_FILES[1])
    pipeline = yaml.safe_load((repo / GITLAB_FILES[1]).read_text())
    assert pipeline["variables"]["SEALER_PACKAGE"] == "sealer==1.2.3"
    assert "sealer rotate --due --push origin --open-pr --output json" in pipeline["sealer-rotate"]["script"]
    assert pipeline["sealer-scan"]["artifacts"]["paths"] == ["sealer.sarif"]
    assert "GITLAB_TOKEN" not in pipeline["sealer-rotate"]["script"][0]  # never in the remote URL
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
    if kind == "github":
        assert rules["/.github/workflows/sealer-review.yml"] and rules["/.github/workflows/sealer-rotate.yml"]


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
    ("args", "message"),
    [
        (["--owner", "@acme\n- run: curl evil"], "--owner"),
        (["--owner", "@acme", "--schedule", "* * * * *\nevil: 1"], "--schedule"),
        (["--owner", "@acme", "--version", "1.0; rm -rf /"], "--version"),
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


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_installing_sealer_never_imports_from_the_checkout(repo: Path, kind: str) -> None:
    """The jobs run in the pull request's checkout, and `python -m pip` puts the working folder
    first on sys.path: a `pip/__main__.py` the author added would run instead of pip, and
    replace the sealer the gate then runs (a green gate for anything)."""
    assert cli(repo, "ci", "init", kind, "--owner", "@acme/platform").exit_code == 0
    texts = [
        p.read_text() for p in (repo / ".github" if kind == "github" else repo / ".gitlab").rglob("*.yml")
    ]
    commands = [line for text in texts for line in text.splitlines() if "python" in line and " -m " in line]
    assert commands and all("python -I -m pip" in line for line in commands), commands
