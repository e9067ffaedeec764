"""Pull requests that would have sealer take something for what it is not once merged: a commit
saying it is one of sealer's rotation branches (`Sealer-Branch:`), a kustomization moving or
renaming the Secrets and key registries sealer manages, and one of sealer's paths in another case
(`Ledger/staging.yaml`, `SEALER.yaml`), which a case-insensitive file system (macOS, Windows)
checks out over the real file: review's `case-collision`, which no approval lets through."""

from __future__ import annotations

import json
import os
import posixpath
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import sealer as cli
from support.git import commit_all, git, head
from support.pull_requests import on_main, reviewed_after, run_review, write
from support.repos import keypairs, pr_checkout, rotated_template

from sealer import branches, config
from sealer.review import stray

SEALED = "sealed/staging/staging.yaml"
REGISTRY = "registry/staging/staging.yaml"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging and production rotated once."""
    return rotated_template(tmp_path_factory, keypairs(tmp_path_factory, "staging", "production"))


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def rules(findings: list[dict[str, Any]]) -> set[str]:
    return {f["rule"] for f in findings}


# -- a forged `Sealer-Branch:` trailer -----------------------------------------------------------


def rotation_claiming(repo: Path, name: str) -> str:
    """A clean rotation committed on the checked-out branch, its message ending with a trailer
    that says it is on branch `name`, as `rotate --branch NAME` writes it."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    message = git(repo, "log", "-1", "--format=%B").rstrip("\n") + "\n" + branches.trailer(name)
    git(repo, "commit", "-q", "--amend", "-m", message)
    return head(repo)


@pytest.mark.parametrize(
    ("claimed", "why"),
    [("main", "main is the branch it is to be merged into"), ("release", "the branch under review is pr")],
    ids=["main", "release"],
)
def test_a_trailer_naming_another_branch_fails(repo: Path, claimed: str, why: str) -> None:
    git(repo, "branch", "release", "main")
    rotation_claiming(repo, claimed)
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"branch-trailer"}, findings
    assert f"`Sealer-Branch: {claimed}` but {why}:" in findings[0]["message"]
    assert findings[0]["path"] == "ledger/"


def test_a_trailer_naming_main_would_make_main_a_rotation_branch(repo: Path) -> None:
    """What the finding prevents: rebased onto main, main reads as a rotation branch."""
    rotation_claiming(repo, "main")
    assert rules(run_review(repo)[1]) == {"branch-trailer"}
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    assert branches.is_own(repo, "main")


def test_in_ci_the_source_branch_is_the_one_under_review(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate reviews commit ids in a detached checkout: CI's variables name the branches."""
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "keys")
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.setenv("GITHUB_HEAD_REF", "pr")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert rules(run_review(repo, base, commit)[1]) == {"branch-trailer"}
    monkeypatch.setenv("GITHUB_HEAD_REF", "keys")
    assert run_review(repo, base, commit) == (0, [])


def test_a_fork_branch_named_like_the_target_fails(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull request from a fork's `main` into `main`: the trailer names the branch under review,
    which is the branch it is to be merged into."""
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "main")
    monkeypatch.setenv("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "main")
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    code, findings = run_review(repo, base, commit)
    assert code == 1 and rules(findings) == {"branch-trailer"}
    assert "the branch it is to be merged into" in findings[0]["message"]


def test_with_no_branch_name_known_the_trailer_must_name_a_branch_holding_it(repo: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "keys")
    code, findings = run_review(repo, base, commit)
    assert code == 1 and rules(findings) == {"branch-trailer"}
    assert "no branch keys holds it" in findings[0]["message"]
    git(repo, "branch", "keys", commit)
    assert run_review(repo, base, commit) == (0, [])


def test_a_rotation_on_its_own_branch_passes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rotate --branch NAME` writes `Sealer-Branch: NAME`: reviewed on NAME, however named."""
    git(repo, "checkout", "-q", "main")
    assert cli(repo, "rotate", "staging", "--branch", "keys/staging").exit_code == 0
    commit = git(repo, "rev-parse", "keys/staging").strip()
    assert branches.claims(repo, "-1", commit)[0].branches == ["keys/staging"]
    assert run_review(repo, "main", "keys/staging") == (0, [])
    assert run_review(repo, "main", commit) == (0, [])  # the branch holding it
    git(repo, "checkout", "-q", "keys/staging")
    assert run_review(repo) == (0, [])
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.setenv("GITHUB_HEAD_REF", "keys/staging")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert run_review(repo, git(repo, "rev-parse", "main").strip(), commit) == (0, [])


# -- a kustomization moving or renaming what it lists ----------------------------------------------


def in_namespace(text: str, namespace: str) -> str:
    assert "namespace: staging\n" in text
    return text.replace("namespace: staging\n", f"namespace: {namespace}\n")


def sealed_secret_renamed(repo: Path) -> None:
    """sealer's own SealedSecret built as engine-api-key-v2: the chart's Deployment reads a
    Secret named engine-api-key that something else may now deliver."""
    write(repo, "apps/kustomization.yaml", "resources: [../sealed/staging/staging.yaml]\nnameSuffix: -v2\n")


def sealed_secret_from_another_folder_moved_in(repo: Path) -> None:
    """A SealedSecret named like staging's, sealed by anyone with the public certificate for
    namespace `tools` (namespace-wide there), lands in staging through a nested kustomization."""
    sealed = in_namespace((repo / SEALED).read_text(), "tools")
    on_main(repo, {"tools/api-key.yaml": sealed, "tools/kustomization.yaml": "resources: [api-key.yaml]\n"})
    write(repo, "apps/kustomization.yaml", "namespace: staging\nresources: [../tools]\n")


def registry_renamed_into_place(repo: Path) -> None:
    """A ConfigMap of another name becomes staging's key registry by a prefix."""
    text = (repo / REGISTRY).read_text().replace("name: engine-api-key-registry", "name: registry")
    on_main(repo, {"tools/registry.yaml": text})
    write(
        repo, "apps/kustomization.yaml", "resources: [../tools/registry.yaml]\nnamePrefix: engine-api-key-\n"
    )


def production_registry_moved_to_staging(repo: Path) -> None:
    """A folder with no kustomization of its own: Flux builds every manifest in it."""
    write(repo, "apps/kustomization.yaml", "namespace: staging\nresources: [../registry/production]\n")


def secret_made_by_a_prefixed_generator(repo: Path) -> None:
    write(
        repo,
        "apps/kustomization.yaml",
        "namespace: staging\nnamePrefix: engine-\n"
        "secretGenerator:\n  - name: api-key\n    literals: [apiKey=x]\n",
    )


def secret_moved_into_a_managed_namespace(repo: Path) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password, namespace: tools}\n"
    on_main(repo, {"tools/db.yaml": secret})
    write(repo, "apps/kustomization.yml", "namespace: staging\nresources: [../tools/db.yaml]\n")


# A manifest SOPS encrypted whole: Flux decrypts any object holding `sops:`, its kind and name too
ENCRYPTED = """apiVersion: ENC[AES256_GCM,data:dg==,type:str]
kind: ENC[AES256_GCM,data:U2VjcmV0,type:str]
metadata:
  name: ENC[AES256_GCM,data:ZGI=,type:str]
  namespace: tools
sops:
  mac: ENC[AES256_GCM,data:bWFj,type:str]
  version: 3.8.1
"""


def encrypted_manifest_moved_into_a_managed_namespace(repo: Path) -> None:
    on_main(repo, {"tools/db.yaml": ENCRYPTED})
    write(repo, "apps/kustomization.yml", "namespace: staging\nresources: [../tools/db.yaml]\n")


def sealed_file_through_a_symlinked_folder(repo: Path) -> None:
    (repo / "apps").mkdir()
    (repo / "apps/keys").symlink_to("../sealed/staging")
    write(repo, "apps/kustomization.yaml", "resources: [keys]\nnameSuffix: -v2\n")


def sealed_file_below_a_symlinked_folder(repo: Path) -> None:
    """Git records nothing below a symlink: `keys/staging/staging.yaml` is found through the
    link `apps/keys` on the way, as kustomize reads it."""
    (repo / "apps").mkdir()
    (repo / "apps/keys").symlink_to("../sealed")
    write(repo, "apps/kustomization.yaml", "resources: [keys/staging/staging.yaml]\nnameSuffix: -v2\n")


def sealed_secret_listed_by_a_nested_kustomization(repo: Path) -> None:
    """main's kustomization moves all of tools/ into staging; the pull request only has tools'
    own kustomization list one more file."""
    on_main(
        repo,
        {
            "apps/kustomization.yaml": "namespace: staging\nresources: [../tools]\n",
            "tools/kustomization.yaml": "resources: [settings.yaml]\n",
            "tools/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
        },
    )
    write(repo, "tools/kustomization.yaml", "resources: [settings.yaml, api-key.yaml]\n")
    write(repo, "tools/api-key.yaml", in_namespace((repo / SEALED).read_text(), "tools"))


def sealed_secret_added_to_a_folder_flux_builds(repo: Path) -> None:
    """main's kustomization lists a folder with no kustomization: every manifest added there
    lands in staging."""
    on_main(
        repo,
        {
            "apps/kustomization.yaml": "namespace: staging\nresources: [../tools]\n",
            "tools/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
        },
    )
    (repo / "tools/more").mkdir()
    (repo / "tools/more/api-key.yaml").symlink_to("../../docs/example.txt")
    write(repo, "docs/example.txt", in_namespace((repo / SEALED).read_text(), "tools"))


def registry_renamed_by_a_component_s_component(repo: Path) -> None:
    """A component listing another: kustomize builds both over what the kustomization listing
    the first lists, so the inner one's prefix and namespace make tools' ConfigMap staging's
    registry."""
    text = (repo / REGISTRY).read_text().replace("name: engine-api-key-registry", "name: registry")
    write(repo, "tools/registry.yaml", in_namespace(text, "tools"))
    write(repo, "outer/kustomization.yaml", "kind: Component\ncomponents: [../inner]\n")
    write(
        repo, "inner/kustomization.yaml", "kind: Component\nnamespace: staging\nnamePrefix: engine-api-key-\n"
    )
    write(repo, "apps/kustomization.yaml", "resources: [../tools/registry.yaml]\ncomponents: [../outer]\n")


MOVES = [
    registry_renamed_by_a_component_s_component,
    sealed_secret_listed_by_a_nested_kustomization,
    sealed_secret_added_to_a_folder_flux_builds,
    sealed_secret_renamed,
    sealed_secret_from_another_folder_moved_in,
    registry_renamed_into_place,
    production_registry_moved_to_staging,
    secret_made_by_a_prefixed_generator,
    secret_moved_into_a_managed_namespace,
    encrypted_manifest_moved_into_a_managed_namespace,
    sealed_file_through_a_symlinked_folder,
    sealed_file_below_a_symlinked_folder,
]


@pytest.mark.parametrize("attack", MOVES, ids=[a.__name__ for a in MOVES])
def test_a_kustomization_moving_what_sealer_delivers_fails(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    moved = [f for f in findings if f["rule"] == "stray-sealed-data" and "kustomization" in f["path"]]
    assert code == 1 and moved, findings


def test_the_finding_says_what_moves_where(repo: Path) -> None:
    sealed_secret_renamed(repo)
    commit_all(repo, "rename")
    findings = run_review(repo, "main", "HEAD")[1]
    assert {(f["rule"], f["path"], f["message"]) for f in findings if f["rule"] == "stray-sealed-data"} == {
        (
            "stray-sealed-data",
            "apps/kustomization.yaml",
            f"moves SealedSecret staging/engine-api-key from {SEALED}, which sealer delivers, to "
            "SealedSecret staging/engine-api-key-v2",
        )
    }


def test_an_application_kustomization_passes(repo: Path) -> None:
    """An application's own kustomization in the environment's namespace, with a prefix: its
    Deployment, ConfigMaps and a Secret of its own that names no namespace."""
    write(repo, "apps/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    write(repo, "apps/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    write(repo, "apps/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password}\n")
    write(
        repo,
        "apps/kustomization.yaml",
        "namespace: staging\nnamePrefix: web-\nnameSuffix: -v1\n"
        "resources: [deployment.yaml, settings.yaml, db.yaml, ../base]\n"
        "configMapGenerator:\n  - name: flags\n    literals: [a=b]\n",
    )
    write(repo, "base/kustomization.yaml", "resources: [service.yaml, base]\n")
    write(repo, "base/service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    commit_all(repo, "the web application")
    code, findings = run_review(repo, "main", "HEAD")
    assert (code, findings) == (0, []), findings


@pytest.mark.parametrize(
    ("kustomization", "flagged"),
    [
        ("namespace: staging\nresources: [https://example.test/keys.yaml]\n", True),
        ("namePrefix: engine-\nresources: [https://example.test/keys.yaml]\n", True),
        ("namespace: staging\nresources: [../tools]\n", True),  # tools/ lists the remote one
        ("resources: [https://example.test/keys.yaml]\n", True),  # another repository's, as it is
    ],
    ids=["moved", "renamed", "nested", "as-it-is"],
)
def test_a_remote_resource_this_repository_moves_is_never_passed(
    repo: Path, kustomization: str, flagged: bool
) -> None:
    """Another repository's manifests are not read here: one this repository's kustomization
    moves into a managed namespace or renames may become a managed Secret or key registry, so a
    code owner approves; listed as it is, it may itself say `namespace: staging` and name one."""
    write(repo, "tools/kustomization.yaml", "resources: [https://example.test/keys.yaml]\n")
    write(repo, "apps/kustomization.yaml", kustomization)
    commit_all(repo, "a remote resource")
    code, findings = run_review(repo, "main", "HEAD")
    remote = [f for f in findings if "remote resources review cannot read" in f["message"]]
    assert (code == 1 and bool(remote)) == flagged, findings
    assert all(f["rule"] == "trust-anchor-change" for f in remote)


REMOTE = "https://example.test/org/keys//deploy?ref=v1"


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        (None, f"resources: [{REMOTE}]\n", REMOTE),
        ("resources: [web.yaml]\n", f"resources: [web.yaml, {REMOTE}]\n", REMOTE),
        (f"resources: [{REMOTE}]\n", f"resources: [{REMOTE.replace('v1', 'v2')}]\n", REMOTE[:-1] + "2"),
        (f"resources: [{REMOTE}]\n", "resources: [https://example.test/org/other//deploy?ref=v1]\n", "other"),
        (None, f"components: [{REMOTE}]\n", REMOTE),
        (f"resources: [{REMOTE}]\n", f"resources: [{REMOTE}, web.yaml]\n", None),
        (f"resources: [{REMOTE}]\n", f"# the web application\nresources: [{REMOTE}]\n", None),
        (f"resources: [{REMOTE}]\n", "resources: [web.yaml]\n", None),
    ],
    ids=[
        "added",
        "added-beside",
        "ref-changed",
        "url-changed",
        "component",
        "kept",
        "kept-edited",
        "dropped",
    ],
)
def test_a_remote_reference_a_pull_request_adds_or_changes_needs_an_owner(
    repo: Path, before: str | None, after: str, flagged: str | None
) -> None:
    """Another repository's content may itself say `namespace: staging` and name a managed Secret
    or key registry: a remote resource a commit adds to a kustomization, or whose URL or `?ref=`
    it changes, needs a code owner, its reference named; one main already listed stays as it is."""
    write(repo, "apps/web.yaml", DEPLOYMENT)
    if before is not None:
        on_main(repo, {"apps/kustomization.yaml": before, "apps/web.yaml": DEPLOYMENT})
    write(repo, "apps/kustomization.yaml", after)
    commit_all(repo, "a remote resource")
    code, findings = run_review(repo, "main", "HEAD")
    remote = [f for f in findings if "adds or changes remote resources" in f["message"]]
    if flagged is None:
        assert (code, findings) == (0, []), findings
    else:
        assert code == 1 and [(f["rule"], f["path"]) for f in remote] == [
            ("trust-anchor-change", "apps/kustomization.yaml")
        ], findings
        assert flagged in remote[0]["message"]


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        ("resources: [web.yaml]\n", "resources: [web.yaml, ../tools]\n", True),
        ("resources: [web.yaml, ../tools]\n", "# web\nresources: [web.yaml, ../tools]\n", False),
        ("resources: [web.yaml]\n", "resources: [web.yaml, ../local]\n", False),
    ],
    ids=["folder-listed", "folder-kept", "local-folder"],
)
def test_a_remote_reference_a_listed_folder_brings_needs_an_owner(
    repo: Path, before: str, after: str, flagged: bool
) -> None:
    """A kustomization newly listing a folder whose unchanged kustomization lists a remote
    resource adds that resource to what it builds: named in a trust-anchor-change; a folder
    listed before, or one with no remote reference, passes."""
    tools = f"resources: [{REMOTE}]\n"
    files = {"tools/kustomization.yaml": tools, "local/kustomization.yaml": "resources: [web.yaml]\n"}
    files |= {"local/web.yaml": DEPLOYMENT, "apps/web.yaml": DEPLOYMENT, "apps/kustomization.yaml": before}
    on_main(repo, files)
    write(repo, "apps/kustomization.yaml", after)
    commit_all(repo, "a folder listed")
    code, findings = run_review(repo, "main", "HEAD")
    remote = [f for f in findings if "adds or changes remote resources" in f["message"]]
    if not flagged:
        assert (code, findings) == (0, []), findings
    else:
        assert code == 1 and [(f["rule"], f["path"]) for f in remote] == [
            ("trust-anchor-change", "apps/kustomization.yaml")
        ], findings
        assert REMOTE in remote[0]["message"]


def retarget(repo: Path, link: str, target: str) -> None:
    """The symlink `link` made to point at `target` (a commit records it, mode 120000)."""
    (repo / link).unlink(missing_ok=True)
    (repo / link).symlink_to(target)


@pytest.mark.parametrize(
    ("listed", "link", "flagged"),
    [
        ("resources: [link]\n", "apps/link", True),
        ("resources: [link/web.yaml, link]\n", "apps/link", True),
        ("resources: [deep/link]\n", "apps/deep", True),
        ("resources: [link]\n", "elsewhere/link", False),
    ],
    ids=["folder-link", "listed-twice", "link-on-the-way", "link-not-built"],
)
def test_a_symlink_retargeted_onto_a_folder_with_a_remote_reference_needs_an_owner(
    repo: Path, listed: str, link: str, flagged: bool
) -> None:
    """A kustomization lists `link`, a symlink into the repository that kustomize follows: a
    commit pointing it at another folder, whose unchanged kustomization lists a remote resource,
    adds that resource to the build as surely as editing `resources:` would. One no build
    passes through passes."""
    files = {"tools/kustomization.yaml": f"resources: [{REMOTE}]\n", "apps/kustomization.yaml": listed}
    files |= {"local/kustomization.yaml": "resources: [web.yaml]\n", "local/web.yaml": DEPLOYMENT}
    files |= {"deep/link/kustomization.yaml": "resources: [web.yaml]\n", "deep/link/web.yaml": DEPLOYMENT}
    on_main(repo, {**files, "deeper/link/kustomization.yaml": f"resources: [{REMOTE}]\n"})
    os_link = {"apps/link": "../local", "apps/deep": "../deep", "elsewhere/link": "../local"}
    git(repo, "checkout", "-q", "main")
    (repo / "elsewhere").mkdir(exist_ok=True)
    for path, target in os_link.items():
        retarget(repo, path, target)
    commit_all(repo, "links on main")
    git(repo, "checkout", "-q", "-B", "pr")
    retarget(repo, link, {"apps/deep": "../deeper"}.get(link, "../tools"))
    commit_all(repo, "a link retargeted")
    code, findings = run_review(repo, "main", "HEAD")
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    remote = [f for f in findings if REMOTE in f["message"]]
    assert code == 1 and remote and {f["rule"] for f in findings} == {"trust-anchor-change"}, findings


@pytest.mark.parametrize("how", ["flux-path", "kustomization-edited-too"])
def test_a_symlink_retargeted_under_a_gitops_object_or_an_edited_kustomization_needs_an_owner(
    repo: Path, how: str
) -> None:
    """A Flux Kustomization whose path is the link, and a kustomization the same pull request
    edits (its old and new versions, built over one tree, both reach the remote resource)."""
    files = {
        "tools/kustomization.yaml": f"resources: [{REMOTE}]\n",
        "apps/kustomization.yaml": "resources: [link]\n",
    }
    files |= {"local/kustomization.yaml": "resources: [web.yaml]\n", "local/web.yaml": DEPLOYMENT}
    if how == "flux-path":
        files["clusters/tools.yaml"] = FLUX_PLAIN.replace("./tools", "./apps/link")
    on_main(repo, files)
    git(repo, "checkout", "-q", "main")
    retarget(repo, "apps/link", "../local")
    commit_all(repo, "a link on main")
    git(repo, "checkout", "-q", "-B", "pr")
    retarget(repo, "apps/link", "../tools")
    if how == "kustomization-edited-too":
        write(repo, "apps/kustomization.yaml", "# the application\nresources: [link]\n")
    commit_all(repo, "a link retargeted")
    code, findings = run_review(repo, "main", "HEAD")
    linked = [f["path"] for f in findings if REMOTE in f["message"]]
    wanted = {"apps/kustomization.yaml"} | ({"clusters/tools.yaml"} if how == "flux-path" else set())
    assert code == 1 and set(linked) == wanted and rules(findings) == {"trust-anchor-change"}, findings


def test_a_symlink_retargeted_past_what_review_reads_of_a_build_needs_an_owner(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build cut at MAX_READS before it reaches a link the range retargets may build through
    it: that is never passed as clean (fail closed), however little else the build does."""
    from sealer.review import kustomize

    listed = ", ".join(f"m{index}.yaml" for index in range(6))
    files = {f"apps/m{index}.yaml": DEPLOYMENT.replace("web", f"m{index}") for index in range(6)}
    files |= {"apps/kustomization.yaml": f"resources: [{listed}, link]\n"}
    files |= {"tools/kustomization.yaml": f"resources: [{REMOTE}]\n"}
    files |= {"local/kustomization.yaml": "resources: [web.yaml]\n", "local/web.yaml": DEPLOYMENT}
    on_main(repo, files)
    git(repo, "checkout", "-q", "main")
    retarget(repo, "apps/link", "../local")
    commit_all(repo, "a link on main")
    git(repo, "checkout", "-q", "-B", "pr")
    retarget(repo, "apps/link", "../tools")
    commit_all(repo, "a link retargeted")
    monkeypatch.setattr(kustomize, "MAX_READS", 3)
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and {(f["rule"], f["path"]) for f in findings} == {
        ("trust-anchor-change", "apps/kustomization.yaml")
    }, findings
    assert "more than 3 paths" in findings[0]["message"] and "apps/link" in findings[0]["message"]


REMOTE_SPELLINGS = [
    "git::git@example.test:org/keys//deploy",  # go-getter's prefix kustomize strips
    "deploy@example.test:org/keys.git//deploy?ref=v1",  # scp-style, any user name
    "GitHub.com/org/keys//deploy?ref=v1",  # kustomize reads github.com in any case
    "gh:org/keys//deploy",  # the shorthand older kustomize expands
    "GIT::SSH://example.test/org/keys",
]


@pytest.mark.parametrize("remote", REMOTE_SPELLINGS)
def test_every_remote_spelling_added_as_it_is_needs_an_owner(repo: Path, remote: str) -> None:
    """However kustomize's URL is spelled, a remote resource a commit adds, moved or not, is
    content review cannot read: its reference named in a trust-anchor-change."""
    write(repo, "apps/kustomization.yaml", f"resources: [{json.dumps(remote)}]\n")
    commit_all(repo, "a remote resource")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and [f["rule"] for f in findings if remote in f["message"]] == ["trust-anchor-change"], (
        findings
    )


@pytest.mark.parametrize("remote", REMOTE_SPELLINGS)
def test_every_remote_spelling_kustomize_clones_is_one(repo: Path, remote: str) -> None:
    """kustomize clones a repository however its URL is spelled (a `git::` prefix, an scp-style
    user other than git, a host in capitals): review must not take one for a missing local file."""
    write(repo, "apps/kustomization.yaml", f"namespace: staging\nresources: [{json.dumps(remote)}]\n")
    commit_all(repo, "a remote resource")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and any("remote resources review cannot read" in f["message"] for f in findings), (
        findings
    )


def test_a_kustomization_keeping_sealers_files_where_they_are_moves_nothing(repo: Path) -> None:
    """`namespace: staging` over staging's own folders changes no namespace or name: only the
    wiring finding (a code owner approves how sealer's files reach the cluster)."""
    write(
        repo,
        "apps/kustomization.yaml",
        "namespace: staging\nresources: [../sealed/staging/staging.yaml, ../registry/staging]\n",
    )
    commit_all(repo, "deliver staging with kustomize")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings


def test_a_change_outside_what_a_kustomization_builds_passes(repo: Path) -> None:
    """main already moves a Secret of its own into staging: a pull request that changes nothing
    that kustomization builds is not failed for it."""
    secret_moved_into_a_managed_namespace(repo)
    git(repo, "checkout", "-q", "main")
    commit_all(repo, "main's own kustomization")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "other/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    commit_all(repo, "an unrelated change")
    assert run_review(repo, "main", "HEAD") == (0, [])
    write(repo, "tools/db.yaml", (repo / "tools/db.yaml").read_text() + "type: Opaque\n")
    commit_all(repo, "a change to what it builds")
    assert rules(run_review(repo, "main", "HEAD")[1]) == {"stray-sealed-data"}


def test_a_build_too_big_to_read_whole_is_never_passed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review reads at most MAX_READS paths of a kustomization's build: one that moves what it
    builds past that bound fails closed (a code owner approves it), instead of passing what it
    did not read."""
    from sealer.review import kustomize

    for index in range(6):
        write(repo, f"apps/m{index}.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m{index}}}\n")
    listed = ", ".join(f"m{index}.yaml" for index in range(6))
    write(repo, "apps/kustomization.yaml", f"namespace: staging\nresources: [{listed}]\n")
    commit_all(repo, "an application of six ConfigMaps")
    assert run_review(repo, "main", "HEAD") == (0, [])
    monkeypatch.setattr(kustomize, "MAX_READS", 3)
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings
    assert "builds more than 3 paths, more than review reads" in findings[0]["message"]


def test_builds_reading_too_much_together_are_refused(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many GitOps objects may each build one big folder (each within MAX_READS): review reads
    at most MAX_REVIEW_READS paths for all its builds together, and refuses past that (exit 2)
    instead of running for hours."""
    from sealer.review import kustomize

    for index in range(6):
        write(repo, f"apps/m{index}.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m{index}}}\n")
    apps = "".join(
        f"---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: a{index}}}\n"
        f"spec:\n  source: {{path: apps, kustomize: {{namePrefix: p{index}-}}}}\n"
        for index in range(5)
    )
    write(repo, "argocd/apps.yaml", apps)
    commit_all(repo, "five applications of one folder")
    assert run_review(repo, "main", "HEAD") == (0, [])
    monkeypatch.setattr(kustomize, "MAX_REVIEW_READS", 20)
    result = cli(repo, "review", "main", "HEAD")
    assert result.exit_code == 2 and "read more than 20 paths together: refused" in result.stderr, (
        result.output
    )


# -- kustomize transforms that rename or move without namespace:/namePrefix:/nameSuffix: --------


def other_sealed_secret(repo: Path) -> str:
    """staging's SealedSecret under another name (sealed for staging by anyone with the cert)."""
    return (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: tools-key\n", 1)


def renamed_by_a_json_patch(repo: Path) -> None:
    write(repo, "tools/api-key.yaml", other_sealed_secret(repo))
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [../tools/api-key.yaml]\npatches:\n  - target: {kind: SealedSecret, name: tools-key}\n"
        "    patch: |-\n      - op: replace\n        path: /metadata/name\n        value: engine-api-key\n",
    )


def renamed_by_a_json_patch_file(repo: Path) -> None:
    write(repo, "tools/api-key.yaml", other_sealed_secret(repo))
    write(repo, "apps/rename.json", '[{"op": "replace", "path": "/metadata", "value": {"name": "x"}}]')
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [../tools/api-key.yaml]\npatchesJson6902:\n"
        "  - target: {kind: SealedSecret, name: tools-key}\n    path: rename.json\n",
    )


def renamed_by_a_component(repo: Path) -> None:
    """A component's namePrefix applies to what its parent lists too."""
    sealed = (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1)
    write(repo, "tools/api-key.yaml", sealed)
    write(repo, "apps/kustomization.yaml", "resources: [../tools/api-key.yaml]\ncomponents: [../naming]\n")
    write(
        repo,
        "naming/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: engine-\n",
    )


def renamed_by_replacements(repo: Path) -> None:
    write(repo, "tools/api-key.yaml", other_sealed_secret(repo))
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [../tools/api-key.yaml]\nreplacements:\n"
        "  - source: {kind: SealedSecret, name: tools-key, fieldPath: spec.template.metadata.name}\n"
        "    targets:\n      - select: {kind: SealedSecret}\n        fieldPaths: [metadata.name]\n",
    )


def renamed_by_a_transformer_config(repo: Path) -> None:
    write(
        repo, "tools/api-key.yaml", other_sealed_secret(repo).replace("name: tools-key\n", "name: key\n", 1)
    )
    write(
        repo,
        "apps/prefix.yaml",
        "apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata: {name: p}\nprefix: engine-api-\n"
        "fieldSpecs: [{path: metadata/name}]\n",
    )
    write(
        repo, "apps/kustomization.yaml", "resources: [../tools/api-key.yaml]\ntransformers: [prefix.yaml]\n"
    )


def made_by_a_helm_chart(repo: Path) -> None:
    write(repo, "charts/keys/Chart.yaml", "apiVersion: v2\nname: keys\nversion: 1.0.0\n")
    write(repo, "charts/keys/templates/keys.yaml", '{{ .Files.Get "sealed.yaml" }}\n')
    write(
        repo,
        "apps/kustomization.yaml",
        "helmGlobals: {chartHome: ../charts}\nhelmCharts:\n  - name: keys\n    namespace: staging\n",
    )


def moved_and_renamed_by_flux_variables(repo: Path) -> None:
    """`namespace: ${ns}`: a Flux Kustomization substituting what it builds (in this repository
    or another one deploying this folder) sets it, to staging say, and the prefix makes tools'
    ConfigMap staging's registry."""
    text = (repo / REGISTRY).read_text().replace("name: engine-api-key-registry", "name: registry")
    write(repo, "tools/registry.yaml", text.replace("  namespace: staging\n", ""))
    write(
        repo,
        "apps/kustomization.yaml",
        "namespace: ${ns}\nnamePrefix: engine-api-key-\nresources: [../tools/registry.yaml]\n",
    )


def moved_by_a_flux_variable_namespace(repo: Path) -> None:
    """`namespace: ${ns}` alone: another cluster's copy of staging's SealedSecret, with no
    namespace, becomes staging's once Flux sets ns to staging."""
    write(repo, "tools/api-key.yaml", in_namespace((repo / SEALED).read_text(), "tools"))
    write(repo, "apps/kustomization.yaml", "namespace: ${ns}\nresources: [../tools/api-key.yaml]\n")


def renamed_by_a_flux_variable_suffix(repo: Path) -> None:
    """`nameSuffix: ${suffix}`: tools' SealedSecret `engine-api` becomes `engine-api-key`."""
    text = other_sealed_secret(repo).replace("name: tools-key\n", "name: engine-api\n", 1)
    write(repo, "tools/api-key.yaml", text)
    write(repo, "apps/kustomization.yaml", "nameSuffix: ${suffix}\nresources: [../tools/api-key.yaml]\n")


def moved_by_a_nested_flux_default(repo: Path) -> None:
    """`namespace: ${ns:=${x}}`: Flux's envsubst reads one variable (its default another one),
    not `${ns:=${x}` and a literal `}` no namespace ends with; set to staging, it moves tools'
    registry there under the registry's name (`${a:=${b}}` suffix: the same)."""
    text = (repo / REGISTRY).read_text().replace("name: engine-api-key-registry", "name: engine-api-key")
    write(repo, "tools/registry.yaml", text.replace("  namespace: staging\n", ""))
    write(
        repo,
        "apps/kustomization.yaml",
        "namespace: ${ns:=${x}}\nnameSuffix: ${sfx:-${y}}\nresources: [../tools/registry.yaml]\n",
    )


UNMODELLED = [
    moved_and_renamed_by_flux_variables,
    moved_by_a_nested_flux_default,
    moved_by_a_flux_variable_namespace,
    renamed_by_a_flux_variable_suffix,
    renamed_by_a_json_patch,
    renamed_by_a_json_patch_file,
    renamed_by_a_component,
    renamed_by_replacements,
    renamed_by_a_transformer_config,
    made_by_a_helm_chart,
]


@pytest.mark.parametrize("attack", UNMODELLED, ids=[a.__name__ for a in UNMODELLED])
def test_a_kustomization_renaming_by_other_means_is_never_passed(repo: Path, attack: Any) -> None:
    """Patches, replacements, transformers, components and charts may rename or make a Secret
    too: review does not redo them, so a code owner approves (or the move is found)."""
    code, findings = reviewed_after(repo, attack)
    flagged = [f for f in findings if f["path"].endswith("kustomization.yaml")]
    assert code == 1 and flagged, findings


def test_a_tenant_kustomization_of_a_flux_variable_namespace_passes(repo: Path) -> None:
    """`namespace: ${tenant_ns}` that a Flux Kustomization (maybe another repository's) sets, over
    a Deployment and a generated ConfigMap no managed name fits: adding it, and bumping its image
    tag, pass (the namespace stands for any; the names are judged)."""
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tenant-api}\n"
    write(repo, "tenant/deployment.yaml", deployment + "# image: acme/tenant-api:1.0.0\n")
    write(
        repo,
        "tenant/kustomization.yaml",
        "namespace: ${tenant_ns}\nnamePrefix: ${tenant}-\nresources: [deployment.yaml]\n"
        "configMapGenerator:\n  - name: tenant-settings\n    literals: [TIER=gold]\n",
    )
    commit_all(repo, "a tenant template")
    assert run_review(repo, "main", "HEAD") == (0, [])
    write(repo, "tenant/deployment.yaml", deployment + "# image: acme/tenant-api:1.0.1\n")
    commit_all(repo, "tenant-api 1.0.1")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_a_patch_that_renames_nothing_passes(repo: Path) -> None:
    """A JSON patch of an application's Deployment, and a component adding a label, pass."""
    write(repo, "apps/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    write(repo, "apps/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password}\n")
    write(repo, "labels/kustomization.yaml", "kind: Component\nlabels: [{pairs: {app: web}}]\n")
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [deployment.yaml, db.yaml]\ncomponents: [../labels]\npatches:\n"
        "  - target: {kind: Deployment}\n    patch: |-\n      - op: add\n        path: /spec/replicas\n"
        "        value: 2\n",
    )
    commit_all(repo, "the web application")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_a_resource_of_any_file_name_is_judged_through_main_s_kustomization(repo: Path) -> None:
    """kustomize reads what `resources:` lists whatever its extension: a pull request changing
    only such a file, which main's kustomization renames into staging's Secret, fails."""
    settings = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
    on_main(
        repo,
        {
            "apps/kustomization.yaml": "namePrefix: engine-\nresources: [../tools/key.txt]\n",
            "tools/key.txt": settings,
        },
    )
    sealed = (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1)
    write(repo, "tools/key.txt", sealed)
    commit_all(repo, "a text file")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and "stray-sealed-data" in rules(findings), findings


def test_a_remote_component_is_never_passed(repo: Path) -> None:
    """A component from another repository transforms what this one's kustomization lists."""
    write(repo, "tools/api-key.yaml", other_sealed_secret(repo))
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [../tools/api-key.yaml]\ncomponents: ['github.com/example/naming?ref=v1']\n",
    )
    commit_all(repo, "a remote component")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings
    assert "the remote component github.com/example/naming?ref=v1" in findings[0]["message"]


def flux_tools(option: str) -> str:
    """A Flux Kustomization deploying ./tools with one more spec line, `option`."""
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: tools}\n"
        f"spec:\n  path: ./tools\n  {option}\n  sourceRef: {{kind: GitRepository, name: x}}\n"
    )


def tools_deployed_by(repo: Path, sealed: str, manifest: str) -> None:
    """`sealed` in tools/, which the GitOps object `manifest` (clusters/tools.yaml) deploys."""
    write(repo, "tools/api-key.yaml", sealed)
    write(repo, "clusters/tools.yaml", manifest)


def moved_by_a_flux_kustomization(repo: Path) -> None:
    """Flux's Kustomization moves what its path builds into `targetNamespace`."""
    tools_deployed_by(
        repo,
        in_namespace((repo / SEALED).read_text(), "tools"),
        flux_tools("targetNamespace: staging"),
    )


def moved_by_an_argo_application(repo: Path) -> None:
    """Argo CD's kustomize options move what its path builds."""
    tools_deployed_by(
        repo,
        (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: tools}\n"
        "spec:\n  source: {path: tools, kustomize: {namePrefix: engine-}}\n"
        "  destination: {namespace: staging}\n",
    )


def moved_by_an_argo_application_as_text_in_extra_objects(repo: Path) -> None:
    """The argo-cd chart's values: an item of `extraObjects` may be the application's text."""
    moved_by_an_argo_application(repo)
    application = (repo / "clusters/tools.yaml").read_text()
    write(repo, "clusters/tools.yaml", "extraObjects:\n  - |\n" + textwrap.indent(application, "    "))


def renamed_by_a_flux_kustomization(repo: Path) -> None:
    tools_deployed_by(
        repo,
        (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1),
        flux_tools("namePrefix: engine-"),
    )


WIRED = [
    moved_by_a_flux_kustomization,
    moved_by_an_argo_application,
    moved_by_an_argo_application_as_text_in_extra_objects,
    renamed_by_a_flux_kustomization,
]


@pytest.mark.parametrize("attack", WIRED, ids=[a.__name__ for a in WIRED])
def test_a_gitops_object_moving_what_it_builds_is_never_passed(repo: Path, attack: Any) -> None:
    """Flux's Kustomization and Argo CD's application move and rename what their path builds as
    a kustomization does; a Secret named like a managed one is found in any namespace."""
    code, findings = reviewed_after(repo, attack)
    where = "tools/api-key.yaml" if attack is moved_by_a_flux_kustomization else "clusters/tools.yaml"
    assert code == 1 and [f for f in findings if f["rule"] == "stray-sealed-data" and f["path"] == where], (
        findings
    )


def test_a_flux_kustomization_moving_an_application_into_staging_passes(repo: Path) -> None:
    write(repo, "web/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    write(repo, "web/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    write(repo, "web/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password}\n")
    write(
        repo,
        "clusters/web.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: web}\n"
        "spec:\n  path: ./web\n  targetNamespace: staging\n  namePrefix: web-\n",
    )
    commit_all(repo, "the web application")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_a_kustomization_listing_one_that_renames_is_judged(repo: Path) -> None:
    """main holds a kustomization nothing deploys that renames a SealedSecret into staging's; a
    pull request's kustomization of its own, moving nothing, lists it."""
    sealed = (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1)
    on_main(
        repo,
        {
            "tools/kustomization.yaml": "namePrefix: engine-\nresources: [api-key.yaml]\n",
            "tools/api-key.yaml": sealed,
        },
    )
    write(repo, "apps/kustomization.yaml", "resources: [../tools]\n")
    commit_all(repo, "deploy tools")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and [f for f in findings if f["path"] == "apps/kustomization.yaml"], findings


def renamed_by_main_s_flux_kustomization(repo: Path) -> None:
    """main deploys tools/ through a Flux Kustomization that prefixes what it builds; the pull
    request only adds a file there, under a name the prefix makes staging's."""
    on_main(repo, {"clusters/tools.yaml": flux_tools("namePrefix: engine-"), "tools/settings.yaml": SETTINGS})
    write(
        repo,
        "tools/api-key.yaml",
        (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1),
    )


def moved_by_main_s_argo_application(repo: Path) -> None:
    """The same through an Argo CD application on main, its source listing tools/ as one of two."""
    application = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: tools}\n"
        "spec:\n  sources:\n    - {path: web}\n    - {path: tools, kustomize: {namespace: staging}}\n"
        "  destination: {namespace: tools}\n"
    )
    on_main(repo, {"clusters/tools.yaml": application, "tools/settings.yaml": SETTINGS})
    write(repo, "tools/more/api-key.yaml", in_namespace((repo / SEALED).read_text(), "tools"))


def moved_by_main_s_escaped_argo_application(repo: Path) -> None:
    """The same, its kind spelled with an escape (the look over HEAD's manifests is cheap)."""
    application = (
        'apiVersion: argoproj.io/v1alpha1\nkind: "Appl\\x69cation"\nmetadata: {name: tools}\n'
        "spec:\n  source: {path: tools, kustomize: {namespace: staging}}\n"
    )
    on_main(repo, {"clusters/tools.yaml": application, "tools/settings.yaml": SETTINGS})
    write(repo, "tools/api-key.yaml", in_namespace((repo / SEALED).read_text(), "tools"))


SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
LEFT_ALONE = [
    renamed_by_main_s_flux_kustomization,
    moved_by_main_s_argo_application,
    moved_by_main_s_escaped_argo_application,
]


@pytest.mark.parametrize("attack", LEFT_ALONE, ids=[a.__name__ for a in LEFT_ALONE])
def test_a_gitops_object_the_range_left_alone_is_built_over_what_it_changed(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and [
        f for f in findings if f["rule"] == "stray-sealed-data" and f["path"] == "clusters/tools.yaml"
    ], findings


def test_a_file_added_beside_what_main_s_gitops_objects_build_passes(repo: Path) -> None:
    on_main(repo, {"clusters/tools.yaml": flux_tools("namePrefix: engine-"), "tools/settings.yaml": SETTINGS})
    write(repo, "tools/more.yaml", SETTINGS.replace("name: settings", "name: more"))
    write(
        repo, "web/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: api-key, namespace: staging}\n"
    )
    commit_all(repo, "more settings")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_one_read_of_a_tree_lists_what_git_lists_below_each_folder(tmp_path: Path) -> None:
    """The index builds at HEAD share (kustomize.Tree) against one git call per folder, with
    names that sort around `/`: `a-b`, `a.b`, `a0`, a space, a non-ASCII name."""
    from sealer import git as sealer_git
    from sealer.review import kustomize

    git(tmp_path, "init", "-q")
    names = ["a/x.yaml", "a/b/y.yaml", "a-b/z.yaml", "a.b", "a0/w", "a b/v", "é/u", "top.yaml", "ab/t"]
    for rel in names:
        write(tmp_path, rel, rel)
    (tmp_path / "a/link").symlink_to("x.yaml")
    commit_all(tmp_path, "files")
    tree = kustomize.Tree.read(tmp_path, "HEAD")
    for folder in [".", "a", "a/b", "a-b", "a0", "a b", "é", "ab", "missing", "a/x.yaml"]:
        assert tree.files_under(folder) == sorted(sealer_git.files_under(tmp_path, "HEAD", folder)), folder
    assert tree.entries["a/link"][0] == "120000" and tree.entries["a/b"][0] == "040000"


# -- what Argo CD renders by means review does not redo: jsonnet, config management plugins -------

JSONNET_SEALED = """{
  apiVersion: "bitnami.com/v1alpha1", kind: "Sealed" + "Secret",
  metadata: { name: "engine-" + "api-key", namespace: "staging" },
  spec: { encryptedData: { apiKey: std.extVar("key") } },
}
"""


def application(source: str) -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: tools}\n"
        f"spec:\n  source: {{path: tools, {source}}}\n  destination: {{namespace: staging}}\n"
    )


def jsonnet_added(repo: Path) -> None:
    """Argo CD renders a directory's *.jsonnet: any name may be built from parts."""
    write(repo, "tools/keys.jsonnet", JSONNET_SEALED)


def libsonnet_changed(repo: Path) -> None:
    on_main(
        repo,
        {
            "tools/keys.jsonnet": 'local names = import "names.libsonnet";\n{}\n',
            "tools/names.libsonnet": "{}\n",
        },
    )
    write(repo, "tools/names.libsonnet", '{ secret: "engine-api-key" }\n')


def plugin_application_added(repo: Path) -> None:
    write(repo, "clusters/tools.yaml", application("plugin: {name: cue}"))


def jsonnet_variables_added(repo: Path) -> None:
    write(
        repo,
        "clusters/tools.yaml",
        application("directory: {jsonnet: {extVars: [{name: n, value: engine}]}}"),
    )


def file_under_main_s_plugin_application(repo: Path) -> None:
    """main's application renders tools/ through a plugin: whatever file it reads may change
    what it makes, whatever its name."""
    on_main(repo, {"clusters/tools.yaml": application("plugin: {name: cue}"), "tools/main.cue": "x: 1\n"})
    write(repo, "tools/keys.cue", 'secret: name: "engine-api-key"\n')


NAMED_BY_TEXT = """// names come from import "notes.txt"? no: from the text file below
{
  apiVersion: "v1", kind: "Secret",
  metadata: { name: std.stripChars(importstr "name.txt", "\\n"), namespace: "staging" },
  stringData: (import "data.json").data,
}
"""


def text_file_main_s_jsonnet_imports_changed(repo: Path) -> None:
    """main's jsonnet (approved then) names its Secret from a text file: any name, any extension."""
    on_main(
        repo,
        {
            "clusters/tools.yaml": application("directory: {recurse: true}"),
            "tools/keys.jsonnet": NAMED_BY_TEXT,
            "tools/name.txt": "tools-api-key\n",
            "tools/data.json": '{ data: { k: importstr "../shared/key.txt" } }\n',
            "shared/key.txt": "x\n",
        },
    )
    write(repo, "tools/name.txt", "engine-api-key\n")


def file_imported_by_what_main_s_jsonnet_imports_changed(repo: Path) -> None:
    text_file_main_s_jsonnet_imports_changed(repo)
    write(repo, "tools/name.txt", "tools-api-key\n")
    write(repo, "shared/key.txt", "y\n")


APPLICATION_SET = """apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: apps, namespace: argocd}
spec:
  generators:
    - matrix:
        generators:
          - list: {elements: [{cluster: in-cluster}]}
          - git: {repoURL: "https://git.example.test/repo.git", files: [{path: "config/*.json"}]}
  template:
    metadata: {name: "{{name}}"}
    spec:
      source:
        repoURL: "https://git.example.test/repo.git"
        path: tools
        kustomize: {namePrefix: "{{prefix}}"}
      destination: {namespace: staging}
"""


def config_main_s_application_set_reads_changed(repo: Path) -> None:
    """main's ApplicationSet names what it builds from a config file's parameters (parts of a
    name: no file names a managed Secret whole)."""
    config = '{"name": "tools", "prefix": "%s"}\n'
    on_main(repo, {"argocd/apps.yaml": APPLICATION_SET, "config/tools.json": config % "tools-"})
    write(repo, "config/tools.json", config % "engine-")


FLUX_SUBSTITUTING = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: tools, namespace: flux}
spec:
  path: ./tools
  sourceRef: {kind: GitRepository, name: repo}
  postBuild:
    substituteFrom: [{kind: ConfigMap, name: cluster-vars}]
"""
VARS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-vars, namespace: flux}\ndata: {team: %s}\n"


def variables_main_s_flux_kustomization_substitutes_changed(repo: Path) -> None:
    on_main(
        repo,
        {
            "clusters/tools.yaml": FLUX_SUBSTITUTING,
            "clusters/vars.yaml": VARS % "tools",
            "tools/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: '${team}-api-key'}\n",
        },
    )
    write(repo, "clusters/vars.yaml", VARS % "engine")


UNSEEN = [
    jsonnet_added,
    libsonnet_changed,
    plugin_application_added,
    jsonnet_variables_added,
    file_under_main_s_plugin_application,
    text_file_main_s_jsonnet_imports_changed,
    file_imported_by_what_main_s_jsonnet_imports_changed,
    config_main_s_application_set_reads_changed,
    variables_main_s_flux_kustomization_substitutes_changed,
]


@pytest.mark.parametrize("attack", UNSEEN, ids=[a.__name__ for a in UNSEEN])
def test_what_argo_cd_renders_by_means_review_does_not_redo_is_never_passed(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings


def test_a_file_outside_what_a_plugin_application_renders_passes(repo: Path) -> None:
    on_main(repo, {"clusters/tools.yaml": application("plugin: {name: cue}"), "tools/main.cue": "x: 1\n"})
    write(repo, "web/main.cue", "y: 2\n")
    write(repo, "toolsets/more.cue", "z: 3\n")
    commit_all(repo, "elsewhere")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_a_file_beside_main_s_jsonnet_that_it_does_not_import_passes(repo: Path) -> None:
    on_main(
        repo,
        {"tools/keys.jsonnet": NAMED_BY_TEXT, "tools/name.txt": "tools-api-key\n", "tools/data.json": "{}\n"},
    )
    write(repo, "tools/notes.txt", "what the comment names is no import\n")
    write(repo, "tools/README.md", "# tools\n")
    commit_all(repo, "notes")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_files_main_s_templating_objects_do_not_read_pass(repo: Path) -> None:
    on_main(
        repo,
        {
            "argocd/apps.yaml": APPLICATION_SET,
            "config/tools.json": '{"name": "tools", "prefix": "tools-"}\n',
            "clusters/tools.yaml": FLUX_SUBSTITUTING,
            "clusters/vars.yaml": VARS % "tools",
        },
    )
    write(repo, "config/more/notes.txt", "not a generator's file\n")
    write(repo, "clusters/other.yaml", VARS.replace("cluster-vars", "team-settings") % "engine")
    commit_all(repo, "elsewhere")
    assert run_review(repo, "main", "HEAD") == (0, [])


# -- ApplicationSets making applications of folders, plugins Argo CD discovers, Flux's variables ----


def application_set(generator: str, source: str) -> str:
    """An ApplicationSet on `generator` whose template's source is `source` (flow mapping body)."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: apps, namespace: argocd}\n"
        f"spec:\n  generators:\n    - {generator}\n"
        "  template:\n    metadata: {name: '{{path.basename}}'}\n"
        f"    spec:\n      source: {{repoURL: 'https://git.example.test/repo.git', {source}}}\n"
        "      destination: {namespace: staging}\n"
    )


DIRECTORIES = (
    "git: {repoURL: 'https://git.example.test/repo.git', "
    "directories: [{path: 'apps/*'}, {path: apps/old, exclude: true}]}"
)


def renamed_api_key(repo: Path) -> str:
    return (repo / SEALED).read_text().replace("name: engine-api-key\n", "name: api-key\n", 1)


def folder_main_s_directory_generator_matches_added(repo: Path) -> None:
    """main's ApplicationSet makes an application of every folder under apps/, each prefixed:
    a folder the pull request adds is deployed so, its Secret renamed into staging's."""
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(
                DIRECTORIES, "path: '{{path}}', kustomize: {namePrefix: engine-}"
            )
        },
    )
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


def folder_main_s_templated_directory_generator_matches_added(repo: Path) -> None:
    """The prefix from the folder's name: apps/engine/ makes engine-api-key."""
    source = "path: '{{path}}', kustomize: {namePrefix: '{{path.basename}}-'}"
    on_main(repo, {"argocd/apps.yaml": application_set(DIRECTORIES, source)})
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


def folder_main_s_go_templated_directory_generator_matches_added(repo: Path) -> None:
    source = "path: '{{ .path.path }}', kustomize: {namePrefix: '{{ .path.basename }}-'}"
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(DIRECTORIES, source).replace(
                "spec:\n", "spec:\n  goTemplate: true\n", 1
            )
        },
    )
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


def application_set_with_directory_generator_added(repo: Path) -> None:
    """The ApplicationSet itself in the pull request, over a folder main holds."""
    on_main(repo, {"apps/engine/api-key.yaml": renamed_api_key(repo)})
    write(
        repo,
        "argocd/apps.yaml",
        application_set(DIRECTORIES, "path: '{{path}}', kustomize: {namePrefix: engine-}"),
    )


def application_set_with_list_generator_added(repo: Path) -> None:
    generator = "list: {elements: [{team: engine}]}"
    on_main(repo, {"tools/api-key.yaml": renamed_api_key(repo)})
    write(
        repo,
        "argocd/apps.yaml",
        application_set(generator, "path: tools, kustomize: {namePrefix: '{{team}}-'}"),
    )


def folder_main_s_files_generator_reads_changed(repo: Path) -> None:
    """A files generator's application deploys the folder of each config file it reads."""
    generator = "git: {repoURL: 'https://git.example.test/repo.git', files: [{path: 'apps/*/config.json'}]}"
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(
                generator, "path: '{{path}}', kustomize: {namePrefix: engine-}"
            ),
            "apps/engine/config.json": "{}\n",
        },
    )
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


def folder_main_s_patched_application_set_matches_changed(repo: Path) -> None:
    """A templatePatch may set any option (a plugin, a prefix): what it builds is not redone."""
    source = "path: '{{path}}'"
    patch = "  templatePatch: |\n    spec: {source: {kustomize: {namePrefix: engine-}}}\n"
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(DIRECTORIES, source).replace(
                "  template:\n", patch + "  template:\n"
            )
        },
    )
    write(repo, "apps/engine/notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n")


def folder_below_main_s_unfilled_application_set_path_changed(repo: Path) -> None:
    """A path from a list generator's parameter: any folder below tools/ may be built."""
    generator = "list: {elements: [{cluster: engine}]}"
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(
                generator, "path: 'tools/{{cluster}}', kustomize: {namePrefix: engine-}"
            )
        },
    )
    write(repo, "tools/engine/notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n")


PREFIXED_PATH = "path: '{{path}}', kustomize: {namePrefix: engine-}"


def files_generator_over(repo: Path, glob: str, config: str) -> None:
    """main's ApplicationSet reads config files matching `glob`, prefixing what each one's folder
    builds: the pull request adds `config` and a Secret renamed into staging's beside it."""
    generator = f"git: {{repoURL: 'https://git.example.test/repo.git', files: [{{path: '{glob}'}}]}}"
    on_main(repo, {"argocd/apps.yaml": application_set(generator, PREFIXED_PATH)})
    write(repo, config, "{}\n")
    write(repo, f"{posixpath.dirname(config)}/api-key.yaml", renamed_api_key(repo))


def config_main_s_files_generator_reads_in_braces_added(repo: Path) -> None:
    """doublestar's `{a,b}` alternatives (Argo CD's new git file globbing)."""
    files_generator_over(repo, "apps/{engine,web}/config.json", "apps/engine/config.json")


def config_main_s_files_generator_reads_through_no_folder_added(repo: Path) -> None:
    """doublestar's `**/` matches no folder too: apps/config.json builds apps/."""
    files_generator_over(repo, "apps/**/config.json", "apps/config.json")


def config_main_s_files_generator_reads_by_a_caret_class_added(repo: Path) -> None:
    """git's and doublestar's `[^x]` negates (Python's fnmatch reads a literal caret)."""
    files_generator_over(repo, "apps/[^x]ngine/config.json", "apps/engine/config.json")


def file_in_the_folder_main_s_files_generator_names_added(repo: Path) -> None:
    """`git ls-files -- apps/engine` (Argo CD's default) lists every file below the folder."""
    files_generator_over(repo, "apps/engine", "apps/engine/config.json")


def folder_main_s_listed_application_set_matches_added(repo: Path) -> None:
    """The ApplicationSet an item of a v1 List (Argo CD and kustomize apply each item)."""
    listed = "\n".join(f"    {line}" for line in application_set(DIRECTORIES, PREFIXED_PATH).splitlines())
    on_main(repo, {"argocd/apps.yaml": f"apiVersion: v1\nkind: List\nitems:\n  -\n{listed}\n"})
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


def application_in_the_argo_cd_chart_s_values_added(repo: Path) -> None:
    """The argo-cd chart applies its `extraObjects` as they stand: here a HelmRelease's values."""
    application = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: tools}\n"
        "spec:\n  source: {path: tools, kustomize: {namePrefix: engine-}}\n"
    )
    nested = "\n".join(f"        {line}" for line in application.splitlines())
    release = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: argocd}\n"
        "spec:\n  chart: {spec: {chart: argo-cd}}\n  values:\n    extraObjects:\n      -\n"
    )
    on_main(repo, {"tools/api-key.yaml": renamed_api_key(repo)})
    write(repo, "argocd/apps.yaml", release + nested + "\n")


def folder_main_s_matrix_templated_directory_generator_matches_added(repo: Path) -> None:
    """A matrix's git generator takes its path from the list generator before it: `{{dir}}/*`."""
    generator = (
        "matrix: {generators: [{list: {elements: [{dir: apps, skip: apps/old}]}}, {git: {repoURL: "
        "'https://git.example.test/repo.git', directories: [{path: '{{dir}}/*'}, "
        "{path: '{{skip}}', exclude: true}]}}]}"
    )
    on_main(repo, {"argocd/apps.yaml": application_set(generator, PREFIXED_PATH)})
    write(repo, "apps/engine/api-key.yaml", renamed_api_key(repo))


APPLICATION_SETS = [
    folder_main_s_patched_application_set_matches_changed,
    folder_below_main_s_unfilled_application_set_path_changed,
    folder_main_s_directory_generator_matches_added,
    folder_main_s_templated_directory_generator_matches_added,
    folder_main_s_go_templated_directory_generator_matches_added,
    application_set_with_directory_generator_added,
    application_set_with_list_generator_added,
    folder_main_s_files_generator_reads_changed,
    config_main_s_files_generator_reads_in_braces_added,
    config_main_s_files_generator_reads_through_no_folder_added,
    config_main_s_files_generator_reads_by_a_caret_class_added,
    file_in_the_folder_main_s_files_generator_names_added,
    folder_main_s_matrix_templated_directory_generator_matches_added,
    folder_main_s_listed_application_set_matches_added,
    application_in_the_argo_cd_chart_s_values_added,
]


@pytest.mark.parametrize("attack", APPLICATION_SETS, ids=[a.__name__ for a in APPLICATION_SETS])
def test_what_an_application_set_deploys_is_built(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and [f for f in findings if f["path"] == "argocd/apps.yaml"], findings


def test_what_main_s_application_sets_build_harmlessly_passes(repo: Path) -> None:
    """An application's own files under a matched folder, a folder the generator excludes or does
    not match, and a file beside an unfilled path's folder: nothing renamed into what sealer
    delivers."""
    templated = "path: '{{path}}', kustomize: {namePrefix: '{{path.basename}}-'}"
    listed = "path: 'tools/{{cluster}}', kustomize: {namePrefix: engine-}"
    on_main(
        repo,
        {
            "argocd/apps.yaml": application_set(DIRECTORIES, templated),
            "argocd/tools.yaml": application_set("list: {elements: [{cluster: engine}]}", listed),
            "apps/web/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
        },
    )
    write(repo, "apps/web/settings.yaml", SETTINGS)
    write(repo, "apps/web/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password}\n")
    write(repo, "apps/old/api-key.yaml", renamed_api_key(repo))  # excluded: no application of it
    write(repo, "apps/engine.yaml", renamed_api_key(repo))  # a file, no folder: no application of it
    write(repo, "toolsets/settings.yaml", SETTINGS)
    commit_all(repo, "the web application")
    assert run_review(repo, "main", "HEAD") == (0, [])


@pytest.mark.parametrize(
    ("pattern", "matched", "unmatched"),
    [
        ("apps/*", ["apps/a", "apps/.b"], ["apps", "apps/a/b", "appsx/a"]),
        ("apps/[^a]*", ["apps/b", "apps/!a"], ["apps/a", "apps/ab"]),
        ("apps/[!a]", ["apps/!", "apps/a"], ["apps/b"]),
        ("apps/?", ["apps/a"], ["apps/ab", "apps//"]),
        ("apps/\\*", ["apps/*"], ["apps/a"]),
        ("a[\\d]", ["ad"], ["a1"]),
    ],
)
def test_a_directory_generator_matches_as_go_s_path_match(
    pattern: str, matched: list[str], unmatched: list[str]
) -> None:
    from sealer.review import stray

    glob = stray._go_glob(pattern)
    assert [bool(glob.fullmatch(p)) for p in matched + unmatched] == [True] * len(matched) + [False] * len(
        unmatched
    )


@pytest.mark.parametrize(
    ("pattern", "matched", "unmatched"),
    [
        ("apps/*/config.json", ["apps/a/config.json", "apps/a/b/config.json"], ["apps/config.json"]),
        ("apps/**/config.json", ["apps/config.json", "apps/a/b/config.json"], ["appsconfig.json"]),
        ("apps/{a,b}/c.json", ["apps/a/c.json", "apps/b/c.json"], ["apps/c.json", "apps/a/d.json"]),
        ("apps/[!a]/c.json", ["apps/b/c.json"], ["apps/ab/d.json"]),
        ("apps/a", ["apps/a", "apps/a/c.json", "apps/a/b/c.json"], ["apps/ab/c.json"]),
        ("{{dir}}/c.json", ["apps/a/c.json"], ["apps/a/d.json"]),
        (":(icase)APPS/c.json", ["apps/c.json"], []),
        ("a\\?.json", ["a?.json"], ["ab.json"]),
    ],
)
def test_a_files_generator_matches_at_least_what_argo_cd_s_globs_do(
    pattern: str, matched: list[str], unmatched: list[str]
) -> None:
    from sealer.review import stray

    glob = stray.wide_glob(pattern)
    assert [bool(glob.fullmatch(p)) for p in matched + unmatched] == [True] * len(matched) + [False] * len(
        unmatched
    )


@pytest.mark.parametrize(
    "make", ["wide_glob", "_go_glob"], ids=["files-generator-or-plugin", "directory-generator"]
)
def test_a_glob_of_many_wildcards_is_matched_at_once(make: str) -> None:
    """The pull request writes the glob: as a regular expression, a dozen `.*` before a letter the
    path lacks backtracked for hours on a 40-character path."""
    import time

    from sealer.review import stray

    started = time.perf_counter()
    for wildcard in ("*", "{{x}}", "**/" if make == "wide_glob" else "?*"):
        glob = getattr(stray, make)((wildcard + "a") * 200 + "Z")
        assert not glob.fullmatch("a" * 4000) and not glob.fullmatch("a/" * 2000)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("make", ["wide_glob", "_go_glob"])
def test_wildcards_in_a_row_are_matched_as_one(make: str) -> None:
    """`{{x}}` 20,000 times then a letter the path holds: each wildcard was a state for every
    character of every path (seconds a path, hours for a repository's folders)."""
    import time

    from sealer.review import stray

    glob = getattr(stray, make)("{{x}}" * 20_000 + "*c")
    started = time.perf_counter()
    assert glob.fullmatch("apps/" + "a" * 200 + "/c") and not glob.fullmatch("apps/" + "a" * 200)
    assert time.perf_counter() - started < 1.0


def test_a_class_go_refuses_is_read_as_any_character() -> None:
    """`[c-a]` compiled as a regular expression raised, and the pull request's pattern stopped the
    review with a traceback; too wide is safe."""
    from sealer.review import stray

    assert stray._go_glob("apps/[c-a]").fullmatch("apps/x")


MADE_FROM_VARIABLES = "apiVersion: v1\nkind: ${kind}\nmetadata: {name: '${name}', namespace: staging}\n"
FLUX_PLAIN = FLUX_SUBSTITUTING.split("  postBuild:")[0]


def substitution_added_to_main_s_flux_kustomization(repo: Path) -> None:
    """A kind and name made from variables (no Secret review could read): the substitution the
    pull request turns on makes them."""
    on_main(
        repo,
        {
            "clusters/tools.yaml": FLUX_PLAIN,
            "clusters/vars.yaml": VARS % "tools",
            "tools/made.yaml": MADE_FROM_VARIABLES,
        },
    )
    write(repo, "clusters/tools.yaml", FLUX_SUBSTITUTING)


def flux_kustomization_substituting_added(repo: Path) -> None:
    on_main(repo, {"clusters/vars.yaml": VARS % "tools", "tools/made.yaml": MADE_FROM_VARIABLES})
    write(repo, "clusters/tools.yaml", FLUX_SUBSTITUTING)


def substitution_source_of_main_s_flux_kustomization_changed(repo: Path) -> None:
    on_main(
        repo,
        {
            "clusters/tools.yaml": FLUX_SUBSTITUTING,
            "clusters/vars.yaml": VARS % "tools",
            "tools/made.yaml": MADE_FROM_VARIABLES,
        },
    )
    write(
        repo,
        "clusters/tools.yaml",
        FLUX_SUBSTITUTING.replace("name: cluster-vars}", "name: team-vars}"),
    )


def inline_substitution_of_main_s_flux_kustomization_changed(repo: Path) -> None:
    substituting = FLUX_PLAIN + "  postBuild:\n    substitute: {team: %s}\n"
    on_main(repo, {"clusters/tools.yaml": substituting % "tools", "tools/made.yaml": MADE_FROM_VARIABLES})
    write(repo, "clusters/tools.yaml", substituting % "engine")


def optional_variables_main_s_flux_kustomization_substitutes_removed(repo: Path) -> None:
    """Without the ConfigMap (optional), each variable's default applies: `${team:=engine}`."""
    optional = FLUX_SUBSTITUTING.replace("name: cluster-vars}", "name: cluster-vars, optional: true}")
    on_main(
        repo,
        {
            "clusters/tools.yaml": optional,
            "clusters/vars.yaml": VARS % "tools",
            "tools/made.yaml": MADE_FROM_VARIABLES.replace("${name}", "${team:=engine}-api-key"),
        },
    )
    (repo / "clusters/vars.yaml").unlink()


SUBSTITUTIONS = [
    substitution_added_to_main_s_flux_kustomization,
    flux_kustomization_substituting_added,
    substitution_source_of_main_s_flux_kustomization_changed,
    inline_substitution_of_main_s_flux_kustomization_changed,
    optional_variables_main_s_flux_kustomization_substitutes_removed,
]


@pytest.mark.parametrize("attack", SUBSTITUTIONS, ids=[a.__name__ for a in SUBSTITUTIONS])
def test_a_flux_substitution_the_range_changes_is_never_passed(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings


def test_a_flux_kustomization_changed_but_its_substitution_passes(repo: Path) -> None:
    """Its interval changed, what it substitutes from the same (over a Deployment: a kind from a
    variable or a Secret would fail, as any build through postBuild does); variables beside it
    changed."""
    on_main(
        repo,
        {
            "clusters/tools.yaml": FLUX_SUBSTITUTING,
            "clusters/vars.yaml": VARS % "tools",
            "clusters/other.yaml": VARS.replace("cluster-vars", "team-settings") % "tools",
            "tools/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '${team}'}\n",
        },
    )
    write(repo, "clusters/tools.yaml", FLUX_SUBSTITUTING.replace("spec:\n", "spec:\n  interval: 5m\n"))
    (repo / "clusters/other.yaml").unlink()
    commit_all(repo, "reconcile more often")
    assert run_review(repo, "main", "HEAD") == (0, [])


SUBSTITUTED_SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata:\n  team: %s\n"
LABELLED = "resources: [settings.yaml, deployment.yaml]\ncommonLabels: {team: '%s'}\n"
GENERATED = "resources: [deployment.yaml]\nconfigMapGenerator: [{name: settings, %s}]\n"


def strategic(patch: str) -> dict[str, str]:
    """settings.yaml patched by a file in kustomize's older spelling, which it still reads."""
    kustomization = "resources: [settings.yaml, deployment.yaml]\npatchesStrategicMerge: [patch.yaml]\n"
    return {
        "tools/settings.yaml": SETTINGS,
        "tools/kustomization.yaml": kustomization,
        "tools/patch.yaml": patch,
    }


LABELLING_FLUX = FLUX_SUBSTITUTING.replace("spec:\n", "spec:\n  commonMetadata: {labels: {team: '%s'}}\n")


@pytest.mark.parametrize(
    ("files", "flagged"),
    [
        ({"tools/settings.yaml": SETTINGS}, False),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % "${team}"}, True),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % "'${team:=tools}'"}, True),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % "$${team}"}, False),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % "$$${team}"}, True),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % '"$\\x7bteam}"'}, True),
        ({"tools/settings.yaml": SUBSTITUTED_SETTINGS % "ENC[AES256_GCM,data:dG9vbHM=,type:str]"}, True),
        ({"tools/settings.yaml": SETTINGS, "tools/kustomization.yaml": LABELLED % "web"}, False),
        ({"tools/settings.yaml": SETTINGS, "tools/kustomization.yaml": LABELLED % "${team}"}, True),
        ({"tools/kustomization.yaml": GENERATED % "literals: [a=b]"}, False),
        ({"tools/kustomization.yaml": GENERATED % "literals: ['a=${team}']"}, True),
        (
            {"tools/kustomization.yaml": GENERATED % "files: [conf=app.conf]", "tools/app.conf": "a=b\n"},
            False,
        ),
        (
            {
                "tools/kustomization.yaml": GENERATED % "files: [conf=app.conf]",
                "tools/app.conf": "a=${team}\n",
            },
            True,
        ),
        ({"tools/kustomization.yaml": GENERATED % "envs: [app.env]", "tools/app.env": "a=${team}\n"}, True),
        ({"tools/kustomization.yaml": GENERATED % "envs: [../outside.env]"}, True),
        ({"tools/settings.yaml": SETTINGS, "clusters/tools.yaml": LABELLING_FLUX % "web"}, False),
        ({"tools/settings.yaml": SETTINGS, "clusters/tools.yaml": LABELLING_FLUX % "${team}"}, True),
        (strategic(SUBSTITUTED_SETTINGS % "web"), False),
        (strategic(SUBSTITUTED_SETTINGS % "${team}"), True),
    ],
    ids=[
        "plain",
        "variable",
        "default",
        "escaped",
        "unescaped",
        "backslash",
        "sops",
        "labelled",
        "labelled-by-variable",
        "generated",
        "generated-from-a-variable",
        "generated-from-a-plain-file",
        "generated-from-a-file-of-variables",
        "generated-from-an-env-file-of-variables",
        "generated-from-a-file-review-cannot-read",
        "flux-labelled",
        "flux-labelled-by-variable",
        "strategic-merge-patch-file",
        "strategic-merge-patch-file-of-variables",
    ],
)
def test_a_change_under_a_flux_substitution_fails_only_where_a_variable_may_be(
    repo: Path, files: dict[str, str], flagged: bool
) -> None:
    """Flux substitutes `${...}` in each built object's text, nothing else (`$${...}` is its
    escape): a Deployment changed beside a ConfigMap holding none passes; one holding a variable,
    or one a kustomization's or Flux's own labels give one, fails (a value may rename it), as do
    one a backslash may spell a variable in, a SOPS value (any text once decrypted) and a
    generated one whose literals or files hold one (or that review cannot read)."""
    on_main(
        repo,
        {
            "clusters/tools.yaml": FLUX_SUBSTITUTING,
            "clusters/vars.yaml": VARS % "tools",
            "tools/deployment.yaml": DEPLOYMENT,
            **files,
        },
    )
    write(repo, "tools/deployment.yaml", DEPLOYMENT + "spec: {replicas: 2}\n")
    commit_all(repo, "two replicas")
    code, findings = run_review(repo, "main", "HEAD")
    assert (code, rules(findings)) == ((1, {"trust-anchor-change"}) if flagged else (0, set())), findings
    assert all(f["path"] == "clusters/tools.yaml" for f in findings)


CMP = """apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cmp-cm, namespace: argocd}
data:
  cue.yaml: |
    apiVersion: argoproj.io/v1alpha1
    kind: ConfigManagementPlugin
    metadata: {name: cue}
    spec:
      generate: {command: [cue, export]}
      discover: {fileName: "*.cue"}
"""


def unnamed_plugin_application_added(repo: Path) -> None:
    """`plugin: {}`: Argo CD picks the plugin by its discover rules."""
    write(repo, "clusters/tools.yaml", application("plugin: {}"))


def plugin_environment_application_added(repo: Path) -> None:
    write(repo, "clusters/tools.yaml", application("plugin: {env: [{name: TEAM, value: engine}]}"))


def application_set_rendering_through_a_plugin_added(repo: Path) -> None:
    on_main(repo, {"apps/engine/main.cue": "x: 1\n"})
    write(repo, "argocd/apps.yaml", application_set(DIRECTORIES, "path: '{{path}}', plugin: {}"))


def file_a_plugin_s_discover_rule_picks_added(repo: Path) -> None:
    """main's application names no tool: Argo CD asks each plugin's discover rule first, and the
    cue plugin main configures picks the folder once a .cue file is there."""
    on_main(repo, {"argocd/cmp.yaml": CMP, "clusters/tools.yaml": application("").replace(", }", "}")})
    write(repo, "tools/keys.cue", 'secret: name: "engine-api-key"\n')


def application_a_plugin_s_discover_rule_picks_added(repo: Path) -> None:
    on_main(repo, {"argocd/cmp.yaml": CMP, "tools/main.cue": "x: 1\n"})
    write(repo, "clusters/tools.yaml", application("").replace(", }", "}"))


def file_a_chart_values_plugin_picks_added(repo: Path) -> None:
    """The plugin configured through the argo-cd chart's values (which the ConfigMap is made of)."""
    values = 'configs:\n  cmp:\n    plugins:\n      cue: {discover: {fileName: "*.cue"}}\n'
    on_main(repo, {"argocd/values.yaml": values, "clusters/tools.yaml": application("").replace(", }", "}")})
    write(repo, "tools/keys.cue", 'secret: name: "engine-api-key"\n')


def plugin_discovering_folders_added(repo: Path) -> None:
    """A plugin's discover rule decides which applications' folders it renders."""
    write(repo, "argocd/cmp.yaml", CMP.replace('fileName: "*.cue"', "find: {command: [sh, -c, 'echo yes']}"))


def file_a_plugin_s_double_star_discover_rule_picks_added(repo: Path) -> None:
    """go-zglob's `**/` (a `find.glob`) matches no folder too: tools/keys.cue is picked."""
    cmp = CMP.replace('{fileName: "*.cue"}', "{find: {glob: '**/*.cue'}}")
    on_main(repo, {"argocd/cmp.yaml": cmp, "clusters/tools.yaml": application("").replace(", }", "}")})
    write(repo, "tools/keys.cue", 'secret: name: "engine-api-key"\n')


PLUGINS = [
    file_a_plugin_s_double_star_discover_rule_picks_added,
    unnamed_plugin_application_added,
    plugin_environment_application_added,
    application_set_rendering_through_a_plugin_added,
    file_a_plugin_s_discover_rule_picks_added,
    application_a_plugin_s_discover_rule_picks_added,
    file_a_chart_values_plugin_picks_added,
    plugin_discovering_folders_added,
]


@pytest.mark.parametrize("attack", PLUGINS, ids=[a.__name__ for a in PLUGINS])
def test_a_plugin_argo_cd_picks_is_never_passed(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and rules(findings) == {"trust-anchor-change"}, findings


def test_a_folder_no_plugin_s_discover_rule_picks_passes(repo: Path) -> None:
    """The cue plugin picks folders holding a .cue file: tools/ holds none, and the ConfigMap
    configuring it changed only in a label."""
    on_main(repo, {"argocd/cmp.yaml": CMP, "clusters/tools.yaml": application("").replace(", }", "}")})
    write(repo, "tools/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tools}\n")
    write(repo, "tools/settings.yaml", SETTINGS)
    write(repo, "web/main.cue", "y: 2\n")
    write(repo, "argocd/cmp.yaml", CMP.replace("namespace: argocd}", "namespace: argocd, labels: {a: b}}"))
    commit_all(repo, "the tools application")
    assert run_review(repo, "main", "HEAD") == (0, [])


@pytest.mark.parametrize(
    ("discover", "picked"),
    [
        ('{fileName: "*.cue"}', True),
        ('{fileName: "./*.jsonnet"}', False),
        ("{find: {glob: '**/*.cue'}}", True),
        ("{find: {command: [sh, -c, 'ls']}}", True),
        ("{}", True),
    ],
)
def test_a_discover_rule_picks_a_folder_by_its_files(discover: str, picked: bool) -> None:
    from sealer.review import plugins

    found = plugins.rules("cmp.yaml", CMP.replace('{fileName: "*.cue"}', discover).encode())
    assert found and plugins.picks(found, ["main.yaml", "sub/keys.cue"]) is picked

    values = f"configs:\n  cmp:\n    create: true\n    plugins:\n      cue: {{discover: {discover}}}\n"
    found = plugins.rules("argo-cd/values.yaml", values.encode())  # the argo-cd chart's values
    assert found and plugins.picks(found, ["main.yaml", "sub/keys.cue"]) is picked


@pytest.mark.parametrize(
    ("discover", "files", "picked"),
    [
        ("{find: {glob: '**/*.cue'}}", ["keys.cue"], True),
        ("{find: {glob: '{a,b}.cue'}}", ["b.cue"], True),
        ('{fileName: "[^_]*.cue"}', ["keys.cue"], True),
        ('{fileName: "/*.cue"}', ["keys.cue"], True),
        ('{fileName: ".plugin"}', [".plugin"], True),
        ('{fileName: "../*.cue"}', ["main.yaml"], True),
        ('{fileName: "[^_]*.cue"}', ["main.yaml"], False),
    ],
)
def test_a_discover_rule_is_read_as_wide_as_argo_cd_s_globs(
    discover: str, files: list[str], picked: bool
) -> None:
    from sealer.review import plugins

    found = plugins.rules("cmp.yaml", CMP.replace('{fileName: "*.cue"}', discover).encode())
    assert found and plugins.picks(found, files) is picked


FLUX_CLUSTER = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux}
spec:
  path: ./clusters/apps
  sourceRef: {kind: GitRepository, name: repo}
  postBuild:
    substitute: {prefix: engine-, dir: tools}
"""
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"


def flux_kustomization_prefixed_by_a_variable_added(repo: Path) -> None:
    """main's cluster Kustomization substitutes what clusters/apps/ holds: a Flux Kustomization
    added there takes its prefix from a variable, engine-, renaming api-key into staging's."""
    on_main(repo, {"clusters/apps.yaml": FLUX_CLUSTER, "clusters/apps/web.yaml": DEPLOYMENT})
    write(
        repo,
        "clusters/apps/tools.yaml",
        FLUX_PLAIN.replace("  path: ./tools\n", "  path: ./tools\n  namePrefix: ${prefix}\n"),
    )
    write(repo, "tools/api-key.yaml", renamed_api_key(repo))


def flux_kustomization_of_a_variable_path_added(repo: Path) -> None:
    """Its path from a variable: `./${dir}` may name tools/, which holds api-key."""
    on_main(
        repo,
        {
            "clusters/apps.yaml": FLUX_CLUSTER,
            "clusters/apps/web.yaml": DEPLOYMENT,
            "tools/api-key.yaml": renamed_api_key(repo),
        },
    )
    write(
        repo,
        "clusters/apps/tools.yaml",
        FLUX_PLAIN.replace("  path: ./tools\n", "  path: ./${dir}\n  namePrefix: engine-\n"),
    )


SUBSTITUTED = [flux_kustomization_prefixed_by_a_variable_added, flux_kustomization_of_a_variable_path_added]


@pytest.mark.parametrize("attack", SUBSTITUTED, ids=[a.__name__ for a in SUBSTITUTED])
def test_a_gitops_object_a_flux_substitution_completes_is_never_passed(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and [f for f in findings if f["path"] == "clusters/apps/tools.yaml"], findings


# A Secret SOPS encrypted whole but its apiVersion: Flux's `decryption` decrypts the name too.
SOPS = (
    "apiVersion: v1\nkind: %s\nmetadata:\n  name: %s\n  namespace: ENC[AES256_GCM,data:c3Q=,type:str]\n"
    "sops:\n  age: []\n  version: 3.8.1\n"
)


@pytest.mark.parametrize(
    ("manifest", "flagged"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${app}-registry\n  namespace: ${ns}\n", True),
        ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: engine-${kind}\n", True),
        ("apiVersion: v1\nkind: ${kind}\nmetadata:\n  name: ${name}\n", True),
        ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${app}-db-password\n  namespace: ${ns}\n", False),
        (SOPS % ("Secret", "ENC[AES256_GCM,data:b3RoZXI=,iv:aXY=,tag:dGFn,type:str]"), True),
        (SOPS % ("ENC[AES256_GCM,data:U2VjcmV0,iv:aXY=,tag:dGFn,type:str]", "engine-api-key"), True),
        (SOPS % ("Secret", "db-password"), False),
    ],
    ids=["registry", "secret", "any-kind", "other-secret", "sops-name", "sops-kind", "sops-data"],
)
def test_a_name_flux_variables_may_make_a_managed_one_fails(repo: Path, manifest: str, flagged: bool) -> None:
    """No substituting or decrypting Flux Kustomization in this repository (another one may
    deploy the folder): a Secret or ConfigMap whose name and namespace variables may make one
    sealer delivers fails, as does one whose name or kind SOPS encrypted (Flux decrypts it once
    built); one whose literal parts fit no managed name passes."""
    write(repo, "tools/made.yaml", manifest)
    commit_all(repo, "made from variables")
    code, findings = run_review(repo, "main", "HEAD")
    assert (code, rules(findings)) == ((1, {"stray-sealed-data"}) if flagged else (0, set())), findings


def test_a_name_of_many_variables_is_judged_at_once(repo: Path) -> None:
    """`name: ${a}${a}…Z`: a regex of one `.*` per variable tried every split of the managed
    name (seconds at 12 variables, hours at 20; the review hung). Its literal parts, in order,
    decide it."""
    start = time.monotonic()
    assert not stray.variables_fit("${a}" * 12 + "Z", "engine-api-key-registry")
    assert stray.variables_fit("${a}" * 12 + "y", "engine-api-key-registry")
    assert stray.variables_fit("${a}-${b}-k${c}", "engine-api-key-registry")
    assert not stray.variables_fit("${a}-${b}-k${c}-", "engine-api-key-registry")
    assert time.monotonic() - start < 1
    write(repo, "tools/made.yaml", "kind: Secret\nmetadata:\n  name: " + "${a}" * 60 + "Z\n")
    commit_all(repo, "made from variables")
    assert run_review(repo, "main", "HEAD")[0] == 0


def test_a_flux_kustomization_per_cluster_folder_passes(repo: Path) -> None:
    """The usual multi-cluster shape: `./apps/${cluster}`, moved into web's namespace; an
    application's ConfigMap and Deployment added to a cluster's folder move nothing of sealer's."""
    per_cluster = FLUX_PLAIN.replace(
        "  path: ./tools\n", "  path: ./apps/${cluster}\n  targetNamespace: web\n"
    )
    on_main(
        repo,
        {
            "clusters/apps.yaml": FLUX_CLUSTER,
            "clusters/apps/web.yaml": per_cluster,
            "apps/prod/web.yaml": DEPLOYMENT,
        },
    )
    write(repo, "apps/prod/settings.yaml", SETTINGS)
    write(repo, "apps/staging/web.yaml", DEPLOYMENT)
    commit_all(repo, "the web application")
    assert run_review(repo, "main", "HEAD") == (0, [])


def test_a_kind_from_a_variable_under_main_s_substituting_flux_kustomization_fails(repo: Path) -> None:
    """main substitutes what tools/ builds: a manifest the pull request adds there takes its kind
    and name from variables (any Secret, staging's too), while a Deployment's image does not
    change what it is."""
    on_main(repo, {"clusters/tools.yaml": FLUX_SUBSTITUTING, "clusters/vars.yaml": VARS % "tools"})
    write(
        repo, "tools/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '${team}'}\n"
    )
    commit_all(repo, "a deployment")
    assert run_review(repo, "main", "HEAD") == (0, [])
    write(repo, "tools/made.yaml", MADE_FROM_VARIABLES)
    commit_all(repo, "made from variables")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"trust-anchor-change", "stray-sealed-data"}, findings
    assert [f["path"] for f in findings if f["rule"] == "trust-anchor-change"] == ["clusters/tools.yaml"]


# -- GitOps sources review cannot read -----------------------------------------------------------

ARGO_REMOTE = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: keys, namespace: argocd}\n"
    "spec:\n  source: {repoURL: '%s', path: deploy, targetRevision: main}\n"
    "  destination: {server: 'https://kubernetes.default.svc', namespace: %s}\n"
)
ARGO_CHART = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: keys}\nspec:\n"
    "  source: {repoURL: 'https://charts.example.test', chart: keys, targetRevision: 1.0.0}\n"
    "  destination: {namespace: staging}\n"
)
ARGO_SET = (
    "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: keys}\nspec:\n"
    "  generators: [{list: {elements: [{env: staging}]}}]\n"
    "  template:\n    metadata: {name: 'keys-{{env}}'}\n"
    "    spec:\n      source: {repoURL: 'https://other.example.test/keys.git', path: deploy}\n"
    "      destination: {namespace: '{{env}}'}\n"
)
FLUX_REMOTE = (
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: other}\n"
    "spec: {url: '%s', ref: {branch: main}}\n---\n"
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: keys}\n"
    "spec:\n  path: ./deploy\n  targetNamespace: staging\n  sourceRef: {kind: GitRepository, name: other}\n"
)
FLUX_OCI = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: keys}\n"
    "spec:\n  path: ./\n  sourceRef: {kind: OCIRepository, name: other}\n"
)
FLUX_HELM = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: keys, namespace: %s}\n"
    "spec:\n  chart:\n    spec:\n"
    "      {chart: keys, version: 1.0.0, sourceRef: {kind: HelmRepository, name: charts}}\n"
)
OTHER = "https://other.example.test/keys.git"


def assert_judged(code: int, findings: list[dict[str, str]], flagged: bool, *named: str) -> None:
    """Clean, or one approval needed on clusters/keys.yaml whose message holds each of `named`."""
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in findings] == [
        ("trust-anchor-change", "clusters/keys.yaml")
    ], findings
    assert all(text in findings[0]["message"] for text in named), findings[0]["message"]


def assert_one_unreadable_source(repo: Path, named: str) -> None:
    """Review fails with one finding on clusters/keys.yaml: a source it cannot read, `named`."""
    code, findings = run_review(repo, "main", "HEAD")
    found = [f for f in findings if "adds or changes a source review cannot read" in f["message"]]
    assert code == 1 and [(f["rule"], f["path"]) for f in found] == [
        ("trust-anchor-change", "clusters/keys.yaml")
    ], findings
    assert named in found[0]["message"]


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        (ARGO_REMOTE % (OTHER, "staging"), OTHER),
        (ARGO_REMOTE % (OTHER, "'{{ns}}'"), OTHER),
        (ARGO_REMOTE.replace("namespace: %s", "name: in-cluster") % OTHER, OTHER),
        (ARGO_CHART, "chart keys"),
        (ARGO_SET, OTHER),
        (FLUX_REMOTE % OTHER, OTHER),
        (FLUX_OCI, "OCIRepository/other"),
        (FLUX_HELM % "staging", "HelmRepository/charts"),
    ],
    ids=[
        "argo",
        "argo-templated",
        "argo-no-namespace",
        "argo-chart",
        "applicationset",
        "flux",
        "flux-oci",
        "helm",
    ],
)
def test_a_gitops_source_review_cannot_read_needs_an_owner(repo: Path, manifest: str, named: str) -> None:
    """An Argo CD or Flux source outside this repository (another repository, a chart, an OCI
    artifact), deployed into a namespace sealer delivers keys to or one review cannot tell: that
    content may name a managed Secret or key registry, so a code owner approves, the reference
    named."""
    git(repo, "remote", "add", "origin", "https://git.example.test/acme/gitops.git")
    write(repo, "clusters/keys.yaml", manifest)
    commit_all(repo, "a remote source")
    assert_one_unreadable_source(repo, named)


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        (None, ARGO_REMOTE % ("git@git.example.test:Acme/gitops", "staging"), False),  # this repository
        (None, ARGO_REMOTE % (OTHER, "web"), False),
        (None, FLUX_HELM % "web", False),
        (None, FLUX_REMOTE % "https://git.example.test/acme/gitops.git", False),
        (ARGO_REMOTE % (OTHER, "staging"), "# keys\n" + ARGO_REMOTE % (OTHER, "staging"), False),
        (ARGO_REMOTE % (OTHER, "staging"), (ARGO_REMOTE % (OTHER, "staging")).replace("main", "v2"), True),
        (ARGO_REMOTE % (OTHER, "web"), ARGO_REMOTE % (OTHER, "staging"), True),
        (FLUX_REMOTE % OTHER, FLUX_REMOTE % OTHER.replace("keys", "more"), True),
    ],
    ids=[
        "this-repository",
        "other-namespace",
        "helm-other-namespace",
        "flux-this-repository",
        "kept",
        "revision-changed",
        "moved-to-staging",
        "url-changed",
    ],
)
def test_a_gitops_source_main_held_or_elsewhere_passes(
    repo: Path, before: str | None, after: str, flagged: bool
) -> None:
    """A source of this repository (as its remote names it, however spelled), one deployed into
    a namespace sealer does not deliver keys to, or one main already held as it is, passes; a
    revision, URL or destination a commit changes is a new reference."""
    git(repo, "remote", "add", "origin", "https://git.example.test/acme/gitops.git")
    if before is not None:
        on_main(repo, {"clusters/keys.yaml": before})
    write(repo, "clusters/keys.yaml", after)
    commit_all(repo, "a source")
    code, findings = run_review(repo, "main", "HEAD")
    found = [f for f in findings if "adds or changes a source review cannot read" in f["message"]]
    assert bool(found) == flagged and (code == 1) == flagged, findings


THIS = "https://git.example.test/acme/gitops.git"
FLUX_SOURCE = (
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: %s\nmetadata: {name: %s, namespace: flux-system}\n"
    "spec: {url: '%s', ref: {branch: main}}\n"
)
FLUX_USER = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
    "metadata: {name: keys, namespace: flux-system}\n"
    "spec:\n  path: ./deploy\n  sourceRef: {kind: GitRepository, name: %s}\n"
)
FLUX_RELEASE = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: keys, namespace: staging}\n"
    "spec:\n  chart:\n    spec: {chart: keys, sourceRef: {kind: %s, name: %s, namespace: flux-system}}\n"
)


def flux_repo(repo: Path, main: dict[str, str]) -> None:
    git(repo, "remote", "add", "origin", THIS)
    on_main(
        repo, {"clusters/flux-system/gotk-sync.yaml": FLUX_SOURCE % ("GitRepository", "flux-system", THIS)}
    )
    if main:
        on_main(repo, main)


@pytest.mark.parametrize(
    ("main", "added", "named"),
    [
        ({"clusters/other.yaml": FLUX_SOURCE % ("GitRepository", "other", OTHER)}, {}, OTHER),
        ({}, {"clusters/other.yaml": FLUX_SOURCE % ("GitRepository", "other", OTHER)}, OTHER),
        ({}, {}, "GitRepository/ghost (no source of that name in this repository)"),
        (
            {
                "clusters/other.yaml": FLUX_SOURCE
                % ("HelmRepository", "charts", "https://charts.example.test")
            },
            {},
            "HelmRepository/charts https://charts.example.test",
        ),
    ],
    ids=["source-on-main", "source-added", "no-such-source", "helm-release"],
)
def test_a_flux_source_another_file_defines_is_looked_up(
    repo: Path, main: dict[str, str], added: dict[str, str], named: str
) -> None:
    """A Flux Kustomization or HelmRelease a commit adds whose sourceRef names a source defined
    in another file (on main or added beside it) outside this repository, deployed where review
    cannot tell or sealer delivers keys, needs a code owner, the source named; one naming no
    source of the repository is content review cannot read too."""
    flux_repo(repo, main)
    user = FLUX_RELEASE % ("HelmRepository", "charts") if "helm" in named.casefold() else FLUX_USER
    user = user % ("ghost" if "ghost" in named else "other") if "%s" in user else user
    for path, text in {**added, "clusters/keys.yaml": user}.items():
        write(repo, path, text)
    commit_all(repo, "a Flux object")
    assert_one_unreadable_source(repo, named)


@pytest.mark.parametrize(
    "added",
    [
        {"clusters/keys.yaml": FLUX_USER % "flux-system"},
        {"clusters/keys.yaml": (FLUX_USER % "other").replace("./deploy", "./deploy\n  targetNamespace: web")},
        {
            "clusters/keys.yaml": FLUX_USER.replace("namespace: flux-system", "namespace: apps") % "other",
            "clusters/apps.yaml": (FLUX_SOURCE % ("GitRepository", "other", THIS)).replace(
                "flux-system", "apps"
            ),
        },
    ],
    ids=["this-repository", "other-namespace", "namespace-resolved"],
)
def test_a_flux_source_of_this_repository_or_elsewhere_passes(repo: Path, added: dict[str, str]) -> None:
    """A Flux Kustomization added over this repository's own GitRepository (its remote's URL), one
    deploying into a namespace sealer does not deliver keys to, or one whose sourceRef (no
    namespace: its own) names this repository's source while another namespace's source of the
    same name is another repository's, passes."""
    flux_repo(repo, {"clusters/other.yaml": FLUX_SOURCE % ("GitRepository", "other", OTHER)})
    for path, text in added.items():
        write(repo, path, text)
    commit_all(repo, "a Flux object")
    assert run_review(repo, "main", "HEAD") == (0, [])


def reviewed_into(repo: Path, into: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[dict[str, Any]]]:
    """The review of the pull request into main (`main`), into master (`master`, a branch made
    at main), of main's commit id with no branch name known (`commit`), or that id with
    `--trust-at main` (`trust-at`) or in CI (`ci`: GITHUB_BASE_REF names main)."""
    if into == "master":
        git(repo, "branch", "master", "main")
    if into in ("main", "master"):
        return run_review(repo, into, "HEAD")
    base = git(repo, "rev-parse", "main").strip()
    if into == "ci":
        monkeypatch.setenv("GITHUB_HEAD_REF", "pr")
        monkeypatch.setenv("GITHUB_BASE_REF", "main")
    return run_review(repo, base, "HEAD", *(["--trust-at", "main"] if into == "trust-at" else []))


def argo_at(revision: str | None) -> str:
    """An Argo CD application of this repository at `revision` (None: no targetRevision)."""
    given = "" if revision is None else f", targetRevision: {revision}"
    return ARGO_REMOTE.replace(", targetRevision: main", given) % (THIS, "staging")


@pytest.mark.parametrize(
    ("before", "after", "into", "flagged"),
    [
        (None, argo_at("evil"), "main", True),
        (None, argo_at("v1.0.0"), "main", True),
        (None, argo_at("refs/heads/main"), "main", True),
        (None, argo_at("main"), "master", True),
        (None, argo_at("main"), "commit", True),
        (argo_at("main"), argo_at("evil"), "main", True),
        (argo_at("HEAD"), argo_at("'0123456789abcdef0123456789abcdef01234567'"), "main", True),
        (
            None,
            ARGO_SET.replace(OTHER, THIS).replace("path: deploy", "path: deploy, targetRevision: evil"),
            "main",
            True,
        ),
        (None, argo_at("main"), "main", False),
        (None, argo_at("HEAD"), "main", False),
        (None, argo_at(None), "main", False),
        (None, argo_at("''"), "main", False),
        (None, argo_at("null"), "main", False),
        (None, argo_at("HEAD"), "commit", False),
        (None, argo_at("main"), "trust-at", False),
        (None, argo_at("main"), "ci", False),
        (argo_at("evil"), "# kept\n" + argo_at("evil"), "main", False),
    ],
    ids=[
        "branch",
        "tag",
        "full-ref",
        "main-into-master",
        "main-branch-unknown",
        "changed-to-branch",
        "changed-to-commit",
        "applicationset",
        "main",
        "head",
        "none-given",
        "empty",
        "null",
        "head-branch-unknown",
        "main-trust-at",
        "main-in-ci",
        "kept",
    ],
)
def test_an_argo_source_of_another_revision_of_this_repository_needs_an_owner(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    before: str | None,
    after: str,
    into: str,
    flagged: bool,
) -> None:
    """An Argo CD source of this repository's URL syncs the revision its targetRevision names:
    another branch, a tag or a commit is content no one reviews (pushed to a branch nobody
    reviews), so one a commit adds or changes needs a code owner; the branch the pull request
    is merged into, `HEAD` or none given is the tree review reads, and passes. With the target
    branch unknown, only `HEAD` (or none) passes."""
    git(repo, "remote", "add", "origin", THIS)
    if before is not None:
        on_main(repo, {"clusters/keys.yaml": before})
    write(repo, "clusters/keys.yaml", after)
    commit_all(repo, "a source")
    code, findings = reviewed_into(repo, into, monkeypatch)
    assert_judged(code, findings, flagged, "adds or changes a source review cannot read", THIS)


def generated_set(generator: str, template: str = "path: '{{path}}'") -> str:
    """An ApplicationSet on `generator` (flow mapping) making applications of this repository at
    `HEAD` whose source holds `template` (flow mapping body), into staging."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: apps, namespace: argocd}\n"
        f"spec:\n  generators:\n    - {generator}\n"
        "  template:\n    metadata: {name: apps}\n"
        f"    spec:\n      source: {{repoURL: '{THIS}', targetRevision: HEAD, {template}}}\n"
        "      destination: {namespace: staging}\n"
    )


def git_generator(url: str, revision: str | None, files: bool = False) -> str:
    """A git generator over `url` at `revision` (None: none given): its folders under apps/, or
    its files apps/*/config.json."""
    given = "" if revision is None else f", revision: {revision}"
    read = "files: [{path: 'apps/*/config.json'}]" if files else "directories: [{path: 'apps/*'}]"
    return f"{{git: {{repoURL: '{url}'{given}, {read}}}}}"


def in_matrix(generator: str, kind: str = "matrix") -> str:
    return f"{{{kind}: {{generators: [{{list: {{elements: [{{env: staging}}]}}}}, {generator}]}}}}"


@pytest.mark.parametrize(
    ("before", "after", "into", "read"),
    [
        (None, generated_set(git_generator(OTHER, "main")), "main", f"{OTHER} revision main"),
        (None, generated_set(git_generator(OTHER, None, files=True)), "main", OTHER),
        (None, generated_set(git_generator(THIS, "evil")), "main", f"{THIS} revision evil"),
        (None, generated_set(git_generator(THIS, "v1.0.0", files=True)), "main", f"{THIS} revision v1.0.0"),
        (None, generated_set(in_matrix(git_generator(THIS, "evil"))), "main", f"{THIS} revision evil"),
        (
            None,
            generated_set(in_matrix(git_generator(OTHER, "HEAD"), "merge")),
            "main",
            f"{OTHER} revision HEAD",
        ),
        (None, generated_set(git_generator(THIS, "main")), "master", f"{THIS} revision main"),
        (None, generated_set(git_generator(THIS, "main")), "commit", f"{THIS} revision main"),
        (
            None,
            generated_set(git_generator(THIS, "evil"), "path: deploy, targetRevision: '{{ .branch }}'"),
            "main",
            f"{THIS} revision evil",
        ),
        (
            generated_set(git_generator(THIS, "main")),
            generated_set(git_generator(THIS, "evil")),
            "main",
            f"{THIS} revision evil",
        ),
        (None, generated_set(git_generator(THIS, "HEAD")), "main", None),
        (None, generated_set(git_generator(THIS, "main")), "main", None),
        (None, generated_set(git_generator(THIS, None, files=True)), "main", None),
        (None, generated_set(in_matrix(git_generator(THIS, "main"))), "main", None),
        (None, generated_set(git_generator(THIS, "main")), "ci", None),
        (None, generated_set(git_generator(OTHER, "main"), "path: deploy"), "main", None),
        (
            generated_set(git_generator(OTHER, "main")),
            "# kept\n" + generated_set(git_generator(OTHER, "main")),
            "main",
            None,
        ),
    ],
    ids=[
        "other-repository",
        "other-repository-files",
        "branch",
        "tag-files",
        "in-matrix",
        "in-merge",
        "main-into-master",
        "main-branch-unknown",
        "fills-target-revision",
        "changed-to-branch",
        "head",
        "main",
        "none-given",
        "main-in-matrix",
        "main-in-ci",
        "parameters-unused",
        "kept",
    ],
)
def test_an_application_set_generating_from_a_revision_review_cannot_read_needs_an_owner(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    before: str | None,
    after: str,
    into: str,
    read: str | None,
) -> None:
    """An ApplicationSet's git generator reads the files or folders of `revision` at `repoURL`:
    review fills its parameters from the tree it reads, so one reading another repository, or
    this one at another revision than the branch under review, gives parameters from content no
    one reviews; a template using them (a path, a revision, a namespace) may deploy anything,
    and one a commit adds or changes needs a code owner, the message naming what it reads. One
    over this repository at the branch under review (`HEAD`, none given, that branch) passes,
    as does one whose template uses no parameter."""
    git(repo, "remote", "add", "origin", THIS)
    if before is not None:
        on_main(repo, {"argocd/apps.yaml": before})
    write(repo, "argocd/apps.yaml", after)
    commit_all(repo, "an ApplicationSet")
    code, findings = reviewed_into(repo, into, monkeypatch)
    if read is None:
        assert (code, findings) == (0, []), findings
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in findings] == [
        ("trust-anchor-change", "argocd/apps.yaml")
    ], findings
    assert f"an ApplicationSet's git generator reading {read}," in findings[0]["message"]


@pytest.mark.parametrize(
    ("default", "manifest", "into", "flagged"),
    [
        ("main", argo_at("HEAD"), "master", True),
        ("main", argo_at(None), "master", True),
        ("main", argo_at("''"), "master", True),
        ("main", generated_set(git_generator(THIS, "HEAD")), "master", True),
        ("main", generated_set(git_generator(THIS, None)), "master", True),
        ("master", argo_at("HEAD"), "main", True),
        ("main", argo_at("HEAD"), "main", False),
        ("main", argo_at(None), "main", False),
        ("master", argo_at("HEAD"), "master", False),
        ("master", generated_set(git_generator(THIS, "HEAD")), "master", False),
        ("main", argo_at("HEAD"), "commit", False),
        (None, argo_at("HEAD"), "master", False),
    ],
    ids=[
        "head-into-other-branch",
        "none-given-into-other-branch",
        "empty-into-other-branch",
        "generator-head-into-other-branch",
        "generator-none-given-into-other-branch",
        "head-into-main-default-master",
        "head-into-default",
        "none-given-into-default",
        "head-into-default-master",
        "generator-head-into-default",
        "branch-unknown",
        "default-unknown",
    ],
)
def test_argo_s_head_is_this_tree_only_when_the_default_branch_is_merged_into(
    repo: Path, monkeypatch: pytest.MonkeyPatch, default: str | None, manifest: str, into: str, flagged: bool
) -> None:
    """Argo CD's `HEAD` (a targetRevision or a git generator's revision, none given too) is the
    remote's default branch: when the checkout records it (`refs/remotes/origin/HEAD`), a pull
    request into another branch deploys content that is not its tree, and a source at `HEAD` it
    adds needs a code owner; into the default branch it passes. When review cannot tell the
    default branch or the branch merged into, `HEAD` passes as before."""
    git(repo, "remote", "add", "origin", THIS)
    if default is not None:
        git(repo, "update-ref", f"refs/remotes/origin/{default}", "main")
        git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{default}")
    path = "argocd/apps.yaml" if "ApplicationSet" in manifest else "clusters/keys.yaml"
    write(repo, path, manifest)
    commit_all(repo, "a source at HEAD")
    code, findings = reviewed_into(repo, into, monkeypatch)
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in findings] == [("trust-anchor-change", path)], (
        findings
    )
    assert THIS in findings[0]["message"]


def ci_gives_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str, default: str) -> None:
    """CI naming the default branch: GitHub Actions in its event payload, GitLab in a variable."""
    if how == "github":
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"action": "opened", "repository": {"default_branch": default}}))
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    elif how == "gitlab":
        monkeypatch.setenv("CI_DEFAULT_BRANCH", default)


@pytest.mark.parametrize(
    ("how", "default", "recorded", "flagged"),
    [
        ("github", "main", None, True),
        ("github", "master", None, False),
        ("gitlab", "main", None, True),
        ("gitlab", "master", None, False),
        ("github", "main", "master", False),
        ("gitlab", "master", "main", True),
        ("none", "", None, False),
    ],
    ids=[
        "github-default-other",
        "github-default-merged-into",
        "gitlab-default-other",
        "gitlab-default-merged-into",
        "recorded-head-wins",
        "recorded-head-wins-gitlab",
        "nothing-gives-it",
    ],
)
def test_argo_s_head_in_ci_is_checked_against_the_default_branch_ci_gives(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    default: str,
    recorded: str | None,
    flagged: bool,
) -> None:
    """actions/checkout records no `origin/HEAD`: CI's default branch (GitHub's event payload,
    GitLab's CI_DEFAULT_BRANCH) stands for it, so a source at `HEAD` in a pull request into
    master fails where main is the default branch; a recorded remote HEAD wins; with neither,
    `HEAD` passes as before."""
    git(repo, "remote", "add", "origin", THIS)
    if recorded is not None:
        git(repo, "update-ref", f"refs/remotes/origin/{recorded}", "main")
        git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{recorded}")
    ci_gives_default(monkeypatch, tmp_path, how, default)
    write(repo, "clusters/keys.yaml", argo_at("HEAD"))
    commit_all(repo, "a source at HEAD")
    code, findings = reviewed_into(repo, "master", monkeypatch)
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in findings] == [
        ("trust-anchor-change", "clusters/keys.yaml")
    ], findings


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        ("link", "is a symlink"),
        ("fifo", "is a FIFO"),
        ("missing", "no such file"),
    ],
    ids=["malformed", "not-utf8", "deep", "symlink", "fifo", "missing"],
)
def test_a_ci_event_payload_review_cannot_read_is_bad_input(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: bytes | str, error: str
) -> None:
    """One line, exit 2, never a traceback nor a guess at the default branch."""
    event = tmp_path / "event.json"
    if payload == "link":
        (tmp_path / "real.json").write_text('{"repository": {"default_branch": "main"}}')
        event.symlink_to(tmp_path / "real.json")
    elif payload == "fifo":
        os.mkfifo(event)
    elif isinstance(payload, bytes):
        event.write_bytes(payload)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    result = cli(repo, "review", "main", "HEAD")
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_ci_event_payload_without_a_default_branch_leaves_it_unknown(
    tmp_path: Path,
) -> None:
    """A payload of another shape (a scheduled run's) names no default branch: unknown, as
    outside CI; a payload too large is refused."""
    from sealer.errors import BadInput
    from sealer.forge import MAX_EVENT_BYTES, ci_default_branch

    event = tmp_path / "event.json"
    for doc in ({"schedule": "0 * * * *"}, [], {"repository": {"default_branch": 7}}, {"repository": "x"}):
        event.write_text(json.dumps(doc))
        assert ci_default_branch({"GITHUB_EVENT_PATH": str(event)}) is None
    assert ci_default_branch({"CI_DEFAULT_BRANCH": "trunk", "GITHUB_EVENT_PATH": str(event)}) == "trunk"
    # A step before review may set CI_DEFAULT_BRANCH (GITHUB_ENV), never GitHub's own payload
    event.write_text(json.dumps({"repository": {"default_branch": "main"}}))
    assert ci_default_branch({"CI_DEFAULT_BRANCH": "master", "GITHUB_EVENT_PATH": str(event)}) == "main"
    assert ci_default_branch({}) is None
    event.write_bytes(b" " * (MAX_EVENT_BYTES + 1))
    with pytest.raises(BadInput, match="larger than the limit"):
        ci_default_branch({"GITHUB_EVENT_PATH": str(event)})


def flux_at(ref: str | None) -> str:
    """A GitRepository `mine` of this repository at `ref` (None: no spec.ref)."""
    source = FLUX_SOURCE % ("GitRepository", "mine", THIS)
    return source.replace(", ref: {branch: main}", "" if ref is None else f", ref: {ref}")


@pytest.mark.parametrize(
    ("ref", "into", "flagged"),
    [
        ("{branch: evil}", "main", True),
        ("{tag: v1.0.0}", "main", True),
        ("{semver: '>=1.0.0'}", "main", True),
        ("{commit: 0123456789abcdef0123456789abcdef01234567}", "main", True),
        ("{name: refs/heads/evil}", "main", True),
        ("{branch: main, tag: v1.0.0}", "main", True),  # a tag wins over a branch
        (None, "main", True),  # Flux fetches master
        ("{branch: main}", "commit", True),
        ("{branch: main}", "main", False),
        ("{branch: master}", "master", False),
        (None, "master", False),
        ("{branch: main}", "trust-at", False),
        ("{branch: main}", "ci", False),
    ],
    ids=[
        "branch",
        "tag",
        "semver",
        "commit",
        "name",
        "branch-and-tag",
        "none-given-into-main",
        "main-branch-unknown",
        "main",
        "master",
        "none-given-into-master",
        "main-trust-at",
        "main-in-ci",
    ],
)
def test_a_flux_source_of_another_revision_of_this_repository_needs_an_owner(
    repo: Path, monkeypatch: pytest.MonkeyPatch, ref: str | None, into: str, flagged: bool
) -> None:
    """A Flux GitRepository of this repository's URL fetches the revision its `spec.ref` names
    (none: branch master): a Kustomization a commit adds over one at another branch, a tag, a
    semver range, a commit or a ref name deploys content no one reviews and needs a code owner;
    one at the branch the pull request is merged into passes. With the target branch unknown,
    any ref is another revision."""
    flux_repo(repo, {})
    write(repo, "clusters/mine.yaml", flux_at(ref))
    write(repo, "clusters/keys.yaml", FLUX_USER % "mine")
    commit_all(repo, "a Flux object")
    code, findings = reviewed_into(repo, into, monkeypatch)
    assert_judged(code, findings, flagged, f"GitRepository/mine {THIS}")


OCI = (
    "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\n"
    "metadata: {name: other, namespace: flux-system}\n"
    "spec: {url: 'oci://registry.example.test/keys', ref: {tag: '1.0'}}\n"
)


@pytest.mark.parametrize(
    ("before", "after", "user", "flagged"),
    [
        (
            FLUX_SOURCE % ("GitRepository", "other", OTHER),
            FLUX_SOURCE % ("GitRepository", "other", OTHER + "x"),
            FLUX_USER,
            True,
        ),
        (
            FLUX_SOURCE % ("GitRepository", "other", OTHER),
            (FLUX_SOURCE % ("GitRepository", "other", OTHER)).replace("main", "v2"),
            FLUX_USER,
            True,
        ),
        (
            FLUX_SOURCE % ("GitRepository", "other", THIS),
            FLUX_SOURCE % ("GitRepository", "other", OTHER),
            FLUX_USER,
            True,
        ),
        (
            FLUX_SOURCE % ("GitRepository", "other", THIS),
            (FLUX_SOURCE % ("GitRepository", "other", THIS)).replace("main", "evil"),
            FLUX_USER,
            True,
        ),
        (
            OCI,
            OCI.replace("tag: '1.0'", "digest: 'sha256:0f'"),
            FLUX_USER.replace("GitRepository", "OCIRepository"),
            True,
        ),
        (
            FLUX_SOURCE % ("GitRepository", "other", OTHER),
            "# ours\n" + FLUX_SOURCE % ("GitRepository", "other", OTHER),
            FLUX_USER,
            False,
        ),
        (
            FLUX_SOURCE % ("GitRepository", "other", OTHER),
            FLUX_SOURCE % ("GitRepository", "other", OTHER + "x"),
            FLUX_USER.replace("./deploy", "./deploy\n  targetNamespace: web"),
            False,
        ),
    ],
    ids=[
        "url",
        "branch",
        "made-outside",
        "this-repository-branch",
        "oci-digest",
        "unchanged",
        "used-elsewhere",
    ],
)
def test_a_flux_source_a_commit_changes_is_judged_for_its_users(
    repo: Path, before: str, after: str, user: str, flagged: bool
) -> None:
    """A commit changing only a source's URL or revision changes what every Kustomization using
    it deploys: one deploying where sealer delivers keys or review cannot tell makes it a
    trust-anchor-change on the source's file, naming it; a source left as it is, or used only
    elsewhere, passes."""
    flux_repo(repo, {"clusters/other.yaml": before, "clusters/keys.yaml": user % "other"})
    write(repo, "clusters/other.yaml", after)
    commit_all(repo, "a source changed")
    code, findings = run_review(repo, "main", "HEAD")
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in findings] == [
        ("trust-anchor-change", "clusters/other.yaml")
    ], findings
    assert "other" in findings[0]["message"] and "Kustomization flux-system/keys" in findings[0]["message"]


def test_an_image_bump_in_a_flux_repository_passes(repo: Path) -> None:
    """An ordinary pull request in a Flux repository: main's Kustomization builds apps/ from this
    repository's own GitRepository, and a commit changes an image there."""
    app = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: web}\n"
    flux_repo(
        repo,
        {
            "clusters/apps.yaml": (FLUX_USER % "flux-system").replace("./deploy", "./apps"),
            "apps/web.yaml": app + "spec: {image: web:1}\n",
        },
    )
    write(repo, "apps/web.yaml", app + "spec: {image: web:2}\n")
    commit_all(repo, "web 2")
    assert run_review(repo, "main", "HEAD") == (0, [])


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        (None, "./tools", True),
        ("./local", "./tools", True),
        ("./tools", "./tools\n  interval: 5m", False),
        (None, "./local", False),
    ],
    ids=["added", "path-changed", "kept", "local-only"],
)
def test_a_remote_reference_a_flux_kustomization_newly_builds_needs_an_owner(
    repo: Path, before: str | None, after: str, flagged: bool
) -> None:
    """A Flux Kustomization of this repository's own source that a commit adds, or points at
    another folder, builds what that folder's unchanged kustomization lists: a remote resource
    there is newly deployed, named in a trust-anchor-change; one it built before passes."""
    local = {"local/kustomization.yaml": "resources: [web.yaml]\n", "local/web.yaml": DEPLOYMENT}
    flux_repo(repo, {"tools/kustomization.yaml": f"resources: [{REMOTE}]\n", **local})
    user = FLUX_USER % "flux-system"
    if before is not None:
        on_main(repo, {"clusters/apps.yaml": user.replace("./deploy", before)})
    write(repo, "clusters/apps.yaml", user.replace("./deploy", after))
    commit_all(repo, "a Flux Kustomization")
    code, findings = run_review(repo, "main", "HEAD")
    if not flagged:
        assert (code, findings) == (0, []), findings
        return
    remote = [f for f in findings if "adds or changes remote resources" in f["message"]]
    assert code == 1 and [(f["rule"], f["path"]) for f in remote] == [
        ("trust-anchor-change", "clusters/apps.yaml")
    ], findings
    assert REMOTE in remote[0]["message"]


# -- one of sealer's paths in another case ---------------------------------------------------------


def values_file(repo: Path) -> str:
    return config.load(repo).env("staging").values_file


# (the path added, a copy of which file, the managed path it is in another case)
VARIANTS = [
    ("SEALER.yaml", "sealer.yaml", "sealer.yaml"),
    ("Ledger/staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),
    ("ledger/Staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),
    ("LEDGER/other.yaml", "ledger/staging.yaml", "ledger/"),
    ("Sealed/staging/staging.yaml", "sealed/staging/staging.yaml", "sealed/staging/staging.yaml"),
    ("sealed/staging/Staging.yaml", "sealed/staging/staging.yaml", "sealed/staging/staging.yaml"),
    ("sealed/Staging/extra.yaml", "sealed/staging/staging.yaml", "sealed/staging/"),
    ("Sealed/other/other.yaml", "sealed/staging/staging.yaml", "sealed/"),
    ("REGISTRY/staging/staging.yaml", "registry/staging/staging.yaml", "registry/staging/staging.yaml"),
    (".Sealer/approvers", "sealer.yaml", ".sealer/"),
    ("certs/Staging.pem", "certs/staging.pem", "certs/staging.pem"),
    (".PRE-COMMIT-CONFIG.YAML", ".pre-commit-config.yaml", ".pre-commit-config.yaml"),
    ("led\u200cger/staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),  # HFS+ ignores the joiner
    ("ſealer.yaml", "sealer.yaml", "sealer.yaml"),  # the long s folds to s
]


@pytest.mark.parametrize(("path", "copied", "managed"), VARIANTS)
def test_a_managed_path_added_in_another_case_fails(repo: Path, path: str, copied: str, managed: str) -> None:
    write(repo, path, (repo / copied).read_text())
    adding = commit_all(repo, "another spelling")
    code, findings = run_review(repo, "main", "HEAD", "--approvals-from", "codeowners")
    shown = path.encode("ascii", "backslashreplace").decode()
    assert code == 1
    assert {
        "rule": "case-collision",
        "env": "",
        "path": path,
        "entry": None,
        "message": f"commit {adding[:12]} adds it: sealer's {managed} spelt in another case: a "
        "case-insensitive file system (macOS, Windows) checks both out as one file",
    } in findings, (shown, findings)


def test_a_values_file_added_in_another_case_fails(repo: Path) -> None:
    values = values_file(repo)
    upper = values.upper()
    write(repo, upper, (repo / values).read_text())
    commit_all(repo, "another spelling")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and ("case-collision", upper) in [(f["rule"], f["path"]) for f in findings], findings


def test_a_path_colliding_with_a_managed_one_at_head_fails(repo: Path) -> None:
    """Neither spelling is one sealer.yaml names (an environment removed), yet both lie in ledger/:
    the one added is checked out over the one HEAD holds."""
    on_main(repo, {"ledger/gone.yaml": "[]\n"})
    write(repo, "ledger/GONE.yaml", "[]\n")
    commit_all(repo, "again")
    code, findings = run_review(repo, "main", "HEAD")
    case = [(f["path"], f["message"].split(": ", 1)[1]) for f in findings if f["rule"] == "case-collision"]
    assert code == 1 and case == [
        (
            "ledger/GONE.yaml",
            "HEAD holds ledger/gone.yaml, which differs only in case: a case-insensitive file system "
            "(macOS, Windows) checks both out as one file",
        )
    ], findings


def test_other_files_in_two_cases_are_no_finding(repo: Path) -> None:
    """Two spellings of a file sealer does not manage, and a file in `Certs/` no cluster pins
    (`cert-file-content` judges it): no case-collision."""
    on_main(repo, {"docs/README.md": "read me\n"})
    write(repo, "docs/Readme.md", "read me too\n")
    write(repo, "Deploy-notes/x.md", "notes\n")
    commit_all(repo, "docs")
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 0 and findings == [], findings


def test_a_values_file_moved_onto_one_of_two_spellings_fails(repo: Path) -> None:
    """BASE holds deploy/App.yaml and deploy/app.yaml (no file of sealer's: no finding then); the
    pull request only points the values file at one of them. No commit adds a path, yet macOS
    checks the two out as one file, so sealer run there renders into the other's content."""
    values = values_file(repo)
    on_main(repo, {"deploy/App.yaml": (repo / values).read_text(), "deploy/app.yaml": "replicas: 2\n"})
    with config.edit(repo) as doc:
        staging = doc["environments"]["staging"]
        staging["valuesFile"] = staging["clusters"][0]["valuesFile"] = "deploy/App.yaml"
    commit_all(repo, "the values move")
    code, findings = run_review(repo, "main", "HEAD")
    case = [(f["path"], f["message"]) for f in findings if f["rule"] == "case-collision"]
    assert code == 1 and case == [
        (
            "deploy/App.yaml",
            "sealer.yaml names it now: HEAD holds deploy/app.yaml, which differs only in case: a "
            "case-insensitive file system (macOS, Windows) checks both out as one file",
        )
    ], findings
