"""Pull requests that change which keys a cluster accepts while `sealer review` once passed them
with no finding: files a GitOps tool applies that review did not read as that tool reads them
(another key registry, a foreign file in sealed/), and a grace window with no end."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import sealer as cli
from support.git import commit_all, git
from support.isolation import isolated
from support.pull_requests import in_a_list
from support.repos import keypairs, ledger_records, pinned_repo, pr_checkout

from sealer import cert_pins, config, ledger, yamlio
from sealer.records import ACTIVE, GRACE, REVOKED

REGISTRY = "registry/staging/staging.yaml"
REGISTRY_NAME = "engine-api-key-registry"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging's K1 revoked, K2 active (tag `k1`: K1 active); production rotated once."""
    controllers = keypairs(tmp_path_factory, "staging", "production")
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        assert cli(root, "rotate", "staging", "--no-branch").exit_code == 0
        git(root, "tag", "k1")
        for env in ("staging", "production"):
            assert cli(root, "rotate", env, "--no-branch").exit_code == 0
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def run_review(repo: Path) -> tuple[int, dict[str, Any]]:
    result = cli(repo, "review", "main", "HEAD", "--output", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def write(repo: Path, rel: str, data: str | bytes) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_bytes(data.encode() if isinstance(data, str) else data)


def registry(repo: Path) -> str:
    """staging's key registry as sealer writes it: a copy elsewhere may list any fingerprint."""
    return (repo / REGISTRY).read_text()


# -- a key registry applied from a file review did not read as a GitOps tool does -------------------


def registry_without_namespace(repo: Path) -> None:
    """The Argo CD application's destination (or a kustomization) puts it in staging."""
    lines = [line for line in registry(repo).splitlines(True) if "namespace:" not in line]
    write(repo, "apps/registry.yaml", "".join(lines))


def registry_kind_escaped(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("kind: ConfigMap", 'kind: "Config\\x4dap"'))


def registry_in_json_with_escapes(repo: Path) -> None:
    doc = yamlio.load_documents(registry(repo), REGISTRY)[0]
    text = json.dumps(doc).replace('"ConfigMap"', '"Config\\u004dap"')
    write(repo, "apps/registry.json", text)


def registry_in_utf16(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).encode("utf-16"))


def registry_with_a_key_twice(repo: Path) -> None:
    """sealer's own reader refuses a key given twice; Kubernetes' YAML reader keeps the last."""
    write(repo, "apps/registry.yaml", registry(repo) + "apiVersion: v1\n")


def registry_under_a_tag(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("metadata:", "metadata: !meta", 1))


def registry_named_in_binary(repo: Path) -> None:
    name = base64.b64encode(REGISTRY_NAME.encode()).decode()
    write(
        repo, "apps/registry.yaml", registry(repo).replace(f"name: {REGISTRY_NAME}", f"name: !!binary {name}")
    )


def registry_from_a_merge_key(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("kind: ConfigMap", "<<: {kind: ConfigMap}"))


def registry_made_by_kustomize(repo: Path) -> None:
    write(
        repo,
        "apps/registry.json",
        yamlio.load_documents(registry(repo), REGISTRY)[0]["data"]["registry.json"],
    )
    kustomization = (
        "namespace: staging\n"
        f"configMapGenerator:\n  - name: {REGISTRY_NAME}\n    files: [registry.json]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    )
    write(repo, "apps/kustomization.yaml", kustomization)


def registry_inside_a_list(repo: Path) -> None:
    """kubectl and Argo CD apply a v1 List item by item."""
    item = yamlio.load_documents(registry(repo), REGISTRY)[0]
    write(repo, "apps/all.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": [item]}))


def registry_in_the_argo_cd_chart_s_extra_objects(repo: Path) -> None:
    """The argo-cd chart applies each of its values' `extraObjects` as it stands."""
    write(repo, "argocd/values.yaml", "extraObjects:\n  -\n" + textwrap.indent(registry(repo), "    "))


def registry_as_text_in_the_argo_cd_chart_s_extra_objects(repo: Path) -> None:
    """An item of `extraObjects` may be the object's text (the chart renders it with `tpl`)."""
    write(repo, "argocd/values.yaml", "extraObjects:\n  - |\n" + textwrap.indent(registry(repo), "    "))


def registry_as_json_on_one_line_in_extra_objects(repo: Path) -> None:
    """A string item of `extraObjects` is applied as the chart's `tpl` renders it: JSON (YAML's
    flow style) on one line is an object too."""
    (obj,) = yaml.safe_load_all(registry(repo))
    write(repo, "argocd/values.yaml", "extraObjects:\n  - " + json.dumps(json.dumps(obj)) + "\n")


def extra_objects_text(text: str) -> str:
    return "extraObjects:\n  - |\n" + textwrap.indent(text, "    ")


def argo_cd_release(values: str) -> str:
    """A Flux HelmRelease of the argo-cd chart with these values."""
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: argo, namespace: flux}\n"
        "spec:\n  chart: {spec: {chart: argo-cd}}\n  values:\n" + textwrap.indent(values, "    ")
    )


def registry_three_strings_deep(repo: Path) -> None:
    """extraObjects' text a HelmRelease of the argo-cd chart, whose extraObjects' text another,
    whose extraObjects' text the registry: each applied in turn, deeper than review reads strings,
    so it cannot pass."""
    inner = argo_cd_release(extra_objects_text(registry(repo)))
    write(repo, "argocd/values.yaml", extra_objects_text(argo_cd_release(extra_objects_text(inner))))


def registry_in_a_file_kustomize_lists(repo: Path) -> None:
    """Kustomize applies whatever `resources:` lists, whatever its name."""
    write(repo, "apps/kustomization.yaml", "resources: [registry.txt]\n")
    write(repo, "apps/registry.txt", registry(repo))


def registry_patched_by_kustomize(repo: Path) -> None:
    """A kustomization over registry/staging/ replacing what the registry lists."""
    patch = "- op: replace\n  path: /data/registry.json\n  value: '{}'\n"
    kustomization = {
        "resources": ["../registry/staging"],
        "patches": [{"target": {"kind": "ConfigMap", "name": REGISTRY_NAME}, "patch": patch}],
    }
    write(repo, "apps/kustomization.yaml", json.dumps(kustomization))


def registry_patched_by_name_alone(repo: Path) -> None:
    """A patch target need not name a kind; the registry comes in through another folder."""
    patch = "[{op: replace, path: /data/registry.json, value: '{}'}]"
    write(
        repo,
        "apps/kustomization.yaml",
        f'resources: [../base]\npatches:\n  - target: {{name: {REGISTRY_NAME}}}\n    patch: "{patch}"\n',
    )


def registry_patched_inline_by_flux(repo: Path) -> None:
    """A Flux Kustomization's strategic-merge patch, the registry spelt inside a string."""
    patch = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {REGISTRY_NAME}}}\ndata: {{registry.json: x}}\n"
    )
    flux = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "staging", "namespace": "flux-system"},
        "spec": {"path": "./registry/staging", "patches": [{"patch": patch}]},
    }
    write(repo, "clusters/staging.yaml", json.dumps(flux).replace("ConfigMap", "Config\\u004dap"))


def registry_through_a_symlink(repo: Path) -> None:
    """Argo CD follows a symlink that stays in the repository: to an example main has held
    since before the range (a .txt no tool applied until now)."""
    git(repo, "checkout", "-q", "main")
    write(repo, "docs/registry-example.txt", registry(repo))
    commit_all(repo, "an example for the docs")
    git(repo, "checkout", "-q", "-B", "pr")
    (repo / "apps").mkdir()
    (repo / "apps/registry.yaml").symlink_to("../docs/./registry-example.txt")


def sealed_secret_without_namespace(repo: Path) -> None:
    """A SealedSecret any PR author can make for staging with its public certificate."""
    lines = (repo / "sealed/staging/staging.yaml").read_text().splitlines(True)
    write(repo, "apps/api-key.yaml", "".join(line for line in lines if "namespace: staging" not in line))


# -- a values file Helm may be given after sealer's ----------------------------------------------


def existing_secret_beside_the_values_file(repo: Path) -> None:
    """An Argo CD application listing values-common.yaml after values.yaml reads the key from a
    Secret nobody reviewed."""
    write(
        repo, "argocd/other.yaml", application().replace("../deploy/staging/values.yaml", "values-other.yaml")
    )
    write(repo, "deploy/staging/values-common.yaml", "replicaCount: 2\nexistingSecret: hand-made-key\n")


def key_setting_twice_beside_the_values_file(repo: Path) -> None:
    write(
        repo, "argocd/other.yaml", application().replace("../deploy/staging/values.yaml", "values-other.yaml")
    )
    write(repo, "deploy/staging/values-common.yaml", "existingSecret: ''\nexistingSecret: hand-made-key\n")


# -- how sealer's files reach the cluster --------------------------------------------------------


def application(parameters: str = "") -> str:
    """The Argo CD application installing the chart with staging's values file."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: engine-staging, namespace: argocd}\n"
        "spec:\n  destination: {namespace: staging, server: https://kubernetes.default.svc}\n"
        "  source:\n    repoURL: https://git.example.test/acme/gitops.git\n    path: chart\n"
        "    helm:\n      valueFiles: [../deploy/staging/values.yaml]\n" + parameters
    )


def helm_parameter_in_the_application(repo: Path) -> None:
    """A Helm parameter overrides every values file: the Deployment reads an unreviewed Secret."""
    git(repo, "checkout", "-q", "main")
    write(repo, "argocd/staging.yaml", application())
    commit_all(repo, "deploy staging with Argo CD")
    git(repo, "checkout", "-q", "-B", "pr")
    write(
        repo, "argocd/staging.yaml", application("      parameters: [{name: existingSecret, value: mine}]\n")
    )


def argocd_parameter_override_file(repo: Path) -> None:
    """Argo CD applies Helm parameters from .argocd-source-<app>.yaml in the source path over
    every values file (argocd-image-updater writes such files)."""
    override = "helm:\n  parameters:\n    - {name: existingSecret, value: mine, forceString: true}\n"
    write(repo, "chart/.argocd-source-engine-staging.yaml", override)


# An application wiring sealer's values file may sit anywhere a GitOps tool or a chart applies it
# from: a List's item, the argo-cd chart's `extraObjects` (an object, or its text), the argocd-apps
# chart's `applications` (a map or a list of specs with no `kind`), a template as text.
OVERRIDE = "      parameters: [{name: existingSecret, value: mine}]\n"


def in_extra_objects(app: str) -> str:
    """The argo-cd chart's values file: each of `extraObjects` is applied as it stands."""
    return "server: {replicas: 1}\nextraObjects:\n  -\n" + textwrap.indent(app, "    ")


def in_extra_objects_as_text(app: str) -> str:
    return "extraObjects:\n  - |\n" + textwrap.indent(app, "    ")


def in_argocd_apps_map(app: str) -> str:
    """The argocd-apps chart's values: an Application's spec keyed by its name."""
    spec = app.split("spec:\n", 1)[1]
    return "applications:\n  engine-staging:\n    project: default\n" + textwrap.indent(spec, "  ")


def in_argocd_apps_list(app: str) -> str:
    spec = app.split("spec:\n", 1)[1]
    return "applications:\n  - name: engine-staging\n    project: default\n" + textwrap.indent(spec, "  ")


def in_a_template_as_text(app: str) -> str:
    """The argocd-apps chart's `itemTemplates`: a template no YAML until the chart fills it."""
    app = app.replace("metadata: {name: engine-staging, namespace: argocd}\n", "metadata:\n  {{- .meta }}\n")
    return "itemTemplates:\n  - items: [{meta: x}]\n    template: |\n" + textwrap.indent(app, "      ")


def in_extra_objects_as_json(app: str) -> str:
    (obj,) = yaml.safe_load_all(app)
    return "extraObjects:\n  - " + json.dumps(json.dumps(obj)) + "\n"


def three_strings_deep(app: str) -> str:
    """Deeper than review reads strings (`registry_three_strings_deep`), the values file's path
    spelt with escapes (no text above names it): a change needs a code owner."""
    app = app.replace("[../deploy/staging/values.yaml]", '["../d\\x65ploy/st\\x61ging/v\\x61lues.yaml"]')
    inner = argo_cd_release(extra_objects_text(app))
    return extra_objects_text(argo_cd_release(extra_objects_text(inner)))


WRAPPINGS = [
    ("argocd/values.yaml", in_extra_objects_as_json),
    ("argocd/values.yaml", three_strings_deep),
    ("argocd/staging.yaml", in_a_list),
    ("argocd/values.yaml", in_extra_objects),
    ("argocd/values.yaml", in_extra_objects_as_text),
    ("argocd/apps.yaml", in_argocd_apps_map),
    ("argocd/apps.yaml", in_argocd_apps_list),
    ("argocd/apps.yaml", in_a_template_as_text),
]


def override_in_a_wrapped_application(repo: Path, path: str, wrap: Callable[[str], str]) -> None:
    """main deploys staging through an application wrapped as `wrap` makes it; the pull request
    adds a Helm parameter over sealer's values file."""
    git(repo, "checkout", "-q", "main")
    write(repo, path, wrap(application()))
    commit_all(repo, "deploy staging with Argo CD")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, path, wrap(application(OVERRIDE)))


@pytest.mark.parametrize(("path", "wrap"), WRAPPINGS, ids=[w.__name__ for _, w in WRAPPINGS])
def test_a_wrapped_application_wires_sealers_files(repo: Path, path: str, wrap: Callable[[str], str]) -> None:
    """An application nested anywhere wires sealer's values file as one standing alone does: a
    Helm parameter over it (or any change to it) needs a code owner."""
    override_in_a_wrapped_application(repo, path, wrap)
    commit_all(repo, "override the key's Secret")
    code, data = run_review(repo)
    wiring = [f for f in data["findings"] if "wires sealer's files" in f["message"]]
    assert code == 1 and [(f["rule"], f["path"]) for f in wiring] == [("trust-anchor-change", path)], data


@pytest.mark.parametrize("owned", [False, True])
def test_a_listed_application_passes_only_when_a_code_owner_approves(repo: Path, owned: bool) -> None:
    """With `--approvals-from codeowners`, the override of a List's application passes as needing
    owner approval when main's CODEOWNERS owns the file, and fails when it does not."""
    git(repo, "checkout", "-q", "main")
    write(repo, "CODEOWNERS", f"/{'argocd' if owned else 'other'}/ @acme/platform\n")
    commit_all(repo, "owners")
    override_in_a_wrapped_application(repo, "argocd/staging.yaml", in_a_list)
    commit_all(repo, "override the key's Secret")
    result = cli(repo, "review", "main", "HEAD", "--approvals-from", "codeowners", "--output", "json")
    data = json.loads(result.stdout)
    approved, failed = data["needs_owner_approval"], data["findings"]
    listed, other = (approved, failed) if owned else (failed, approved)
    assert result.exit_code == (0 if owned else 1) and other == [], data
    assert {(f["rule"], f["path"]) for f in listed} == {("trust-anchor-change", "argocd/staging.yaml")}
    assert any("wires sealer's files" in f["message"] for f in listed), listed


def tools_application(namespace: str) -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: tools, namespace: argocd}\n"
        f"spec:\n  destination: {{namespace: {namespace}, server: https://kubernetes.default.svc}}\n"
        "  source: {repoURL: https://git.example.test/acme/gitops.git, path: tools}\n"
    )


def registry_moved_by_an_application_s_destination(
    repo: Path, namespace: str = "staging", deploy: Callable[[str], str] = tools_application
) -> None:
    """main's application deploys tools/ into `tools`, a ConfigMap named like staging's registry
    with no namespace among it (harmless there); its destination set to staging makes it
    staging's key registry (Argo CD puts what gives no namespace in the destination's)."""
    git(repo, "checkout", "-q", "main")
    lines = [line for line in registry(repo).splitlines(True) if "namespace:" not in line]
    write(repo, "tools/registry.yaml", "".join(lines))
    write(repo, "argocd/tools.yaml", deploy("tools"))
    commit_all(repo, "tools")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "argocd/tools.yaml", deploy(namespace))


TOOLS_SOURCE = "{repoURL: https://git.example.test/acme/gitops.git, path: tools}"


def tools_application_set(namespace: str, templated: bool = False) -> str:
    """An ApplicationSet making the tools application (its namespace a generator's, or literal)."""
    destination = "'{{ns}}'" if templated else namespace
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: tools, namespace: argocd}\n"
        f"spec:\n  generators: [{{list: {{elements: [{{ns: {namespace}}}]}}}}]\n"
        "  template:\n    metadata: {name: tools}\n    spec:\n      project: default\n"
        f"      destination: {{namespace: {destination}, server: https://kubernetes.default.svc}}\n"
        f"      source: {TOOLS_SOURCE}\n"
    )


def registry_moved_by_an_application_set_s_destination(repo: Path) -> None:
    registry_moved_by_an_application_s_destination(repo, deploy=tools_application_set)


def registry_moved_by_an_application_set_s_templated_destination(repo: Path) -> None:
    """The destination a generator's parameter: it may be any namespace, staging's too."""
    registry_moved_by_an_application_s_destination(
        repo, deploy=lambda namespace: tools_application_set(namespace, templated=True)
    )


def registry_moved_by_an_argocd_apps_item_s_destination(repo: Path) -> None:
    """The argocd-apps chart's values: an application's spec, with no `kind`."""
    registry_moved_by_an_application_s_destination(
        repo,
        deploy=lambda namespace: (
            f"applications:\n  tools:\n    project: default\n    destination: {{namespace: {namespace}}}\n"
            f"    source: {TOOLS_SOURCE}\n"
        ),
    )


def test_an_application_s_destination_elsewhere_moves_no_registry(repo: Path) -> None:
    """The same application moved into a namespace sealer delivers no keys to passes."""
    registry_moved_by_an_application_s_destination(repo, "web")
    commit_all(repo, "tools move to web")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def verifier_reads_another_registry(repo: Path) -> None:
    """The verifier's Deployment mounts a ConfigMap of another name, listing the author's keys."""
    git(repo, "checkout", "-q", "main")
    write(repo, "apps/verifier.yaml", verifier(REGISTRY_NAME))
    commit_all(repo, "the verifier")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "apps/verifier.yaml", verifier("keys-v2"))
    write(repo, "apps/keys-v2.yaml", registry(repo).replace(REGISTRY_NAME, "keys-v2"))


def verifier(registry_name: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: verifier, namespace: staging}\n"
        "spec:\n  template:\n    spec:\n      volumes:\n        - name: keys\n"
        f"          configMap: {{name: {registry_name}}}\n"
    )


# -- what another repository holds --------------------------------------------------------------


def add_submodule(repo: Path, path: str, commit: str) -> None:
    """A submodule entry as `git submodule add` leaves it (no clone of its own needed)."""
    write(repo, ".gitmodules", f'[submodule "{path}"]\n\tpath = {path}\n\turl = ../vendor.git\n')
    (repo / path).mkdir(parents=True, exist_ok=True)  # not checked out: an empty folder
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{commit},{path}")
    git(repo, "add", ".gitmodules")
    git(repo, "commit", "-q", "-m", f"submodule {path} at {commit[:12]}")


def submodule_added(repo: Path) -> None:
    """Argo CD checks out submodules: their manifests (a key registry, say) come unreviewed."""
    add_submodule(repo, "apps/vendor", git(repo, "rev-parse", "k1").strip())


def submodule_moved_on(repo: Path) -> None:
    """On main already; the pull request points it at another commit of the other repository."""
    git(repo, "checkout", "-q", "main")
    add_submodule(repo, "apps/vendor", git(repo, "rev-parse", "k1").strip())
    git(repo, "checkout", "-q", "-B", "pr")
    add_submodule(repo, "apps/vendor", git(repo, "rev-parse", "main~1").strip())
    assert git(repo, "diff", "--name-only", "main", "HEAD").split() == ["apps/vendor"]


# -- a file in sealed/ that review never read ---------------------------------------------------------


def registry_beside_the_sealed_file(repo: Path) -> None:
    """Argo CD reads *.yaml, *.yml and *.json in sealed/staging/; review read staging.yaml alone."""
    write(repo, "sealed/staging/registry.json", json.dumps(yamlio.load_documents(registry(repo), "r")[0]))


def registry_as_yml_beside_the_sealed_file(repo: Path) -> None:
    write(repo, "sealed/staging/registry.yml", registry(repo))


def registry_in_a_folder_named_like_an_environment(repo: Path) -> None:
    write(repo, "sealed/Staging/staging.yaml", registry(repo))


# -- a grace window with no end ------------------------------------------------------------------------


def grace_without_end(repo: Path) -> None:
    """A rotation that revoked the old key, edited to keep it in grace with no end: the registry
    (rendered to match) lists it as valid until it expires, and review showed 'grace none'."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    *older, replaced, new = ledger_records(repo, "staging")
    assert (replaced.status, new.status) == (REVOKED, ACTIVE)
    ledger.save(repo, "staging", [*older, replace(replaced, status=GRACE, revoke_at=None), new])
    assert cli(repo, "render", "staging").exit_code == 0
    git(repo, "commit", "-q", "-a", "--amend", "--no-edit")  # as if the rotation wrote it


ATTACKS: list[tuple[Callable[[Path], None], str]] = [
    (registry_without_namespace, "stray-sealed-data"),
    (registry_kind_escaped, "stray-sealed-data"),
    (registry_in_json_with_escapes, "stray-sealed-data"),
    (registry_in_utf16, "stray-sealed-data"),
    (registry_with_a_key_twice, "stray-sealed-data"),
    (registry_under_a_tag, "stray-sealed-data"),
    (registry_named_in_binary, "stray-sealed-data"),
    (registry_from_a_merge_key, "stray-sealed-data"),
    (registry_made_by_kustomize, "stray-sealed-data"),
    (registry_in_a_file_kustomize_lists, "stray-sealed-data"),
    (registry_inside_a_list, "stray-sealed-data"),
    (registry_in_the_argo_cd_chart_s_extra_objects, "stray-sealed-data"),
    (registry_as_text_in_the_argo_cd_chart_s_extra_objects, "stray-sealed-data"),
    (registry_as_json_on_one_line_in_extra_objects, "stray-sealed-data"),
    (registry_three_strings_deep, "stray-sealed-data"),
    (registry_patched_by_kustomize, "stray-sealed-data"),
    (registry_through_a_symlink, "stray-sealed-data"),
    (registry_patched_inline_by_flux, "stray-sealed-data"),
    (registry_patched_by_name_alone, "stray-sealed-data"),
    (sealed_secret_without_namespace, "stray-sealed-data"),
    (existing_secret_beside_the_values_file, "delivery-change"),
    (key_setting_twice_beside_the_values_file, "delivery-change"),
    (helm_parameter_in_the_application, "trust-anchor-change"),
    (argocd_parameter_override_file, "trust-anchor-change"),
    (verifier_reads_another_registry, "delivery-change"),
    (registry_moved_by_an_application_s_destination, "stray-sealed-data"),
    (registry_moved_by_an_application_set_s_destination, "stray-sealed-data"),
    (registry_moved_by_an_application_set_s_templated_destination, "stray-sealed-data"),
    (registry_moved_by_an_argocd_apps_item_s_destination, "stray-sealed-data"),
    (submodule_added, "trust-anchor-change"),
    (submodule_moved_on, "trust-anchor-change"),
    (registry_beside_the_sealed_file, "manifest-mismatch"),
    (registry_as_yml_beside_the_sealed_file, "manifest-mismatch"),
    (registry_in_a_folder_named_like_an_environment, "manifest-mismatch"),
    (grace_without_end, "ledger-status"),
]


# -- a merge taking a file from outside the range ------------------------------------------------


def merge_taking_theirs(repo: Path, other: str) -> None:
    """Merge `other` into the checked-out branch, every file as `other` has it."""
    git(repo, "merge", "-q", "--no-commit", "-s", "ours", other)
    git(repo, "checkout", other, "--", ".")
    git(repo, "commit", "-q", "--no-edit")


def revoked_key_back_through_a_merge(repo: Path) -> None:
    """A branch cut when K1 was active keeps it in grace for years, and revokes throwaway keys
    until the registry's serial is above main's; merged taking its files, the merge brought the
    ledger that K1 and K2's removal are in, and no commit of the range was judged against main's."""
    git(repo, "checkout", "-q", "-b", "side", "k1")
    assert cli(repo, "rotate", "staging", "--no-branch", "--replace", "--grace", "3000d").exit_code == 0
    assert cli(repo, "rotate", "staging", "--no-branch", "--replace").exit_code == 0
    git(repo, "checkout", "-q", "pr")
    merge_taking_theirs(repo, "side")
    k1 = ledger_records(repo, "staging")[0]
    assert k1.status == GRACE and registry_serial(repo, "HEAD") > registry_serial(repo, "main")


def registry_serial(repo: Path, rev: str) -> int:
    from sealer import registry as key_registry

    return key_registry.serial_of(ledger.at_revision(repo, rev, "staging"))


def old_gate_file_through_a_merge(repo: Path) -> None:
    """CODEOWNERS as main had it before a change took the author out: a merge with that old
    commit of main takes it back, and no commit of the range made that version."""
    git(repo, "checkout", "-q", "main")
    write(repo, "CODEOWNERS", "* @acme/author\n")
    old = commit_all(repo, "owners")
    write(repo, "CODEOWNERS", "* @acme/platform\n")
    commit_all(repo, "the platform team owns everything")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "CODEOWNERS", "* @acme/author\n")
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").strip()
    merge = git(repo, "commit-tree", tree, "-p", "HEAD", "-p", old, "-m", "Merge an old main").strip()
    git(repo, "reset", "-q", "--hard", merge)


ATTACKS += [
    (revoked_key_back_through_a_merge, "ledger-status"),
    (old_gate_file_through_a_merge, "trust-anchor-change"),
]


@pytest.mark.parametrize(("attack", "kind"), ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_attack_fails_review(repo: Path, attack: Callable[[Path], None], kind: str) -> None:
    attack(repo)
    if git(repo, "status", "--porcelain"):
        commit_all(repo, attack.__name__)
    code, data = run_review(repo)
    assert code == 1, data
    assert kind in {f["rule"] for f in data["findings"]}, data["findings"]


def test_application_manifests_pass(repo: Path) -> None:
    """What application teams commit beside sealer's files: a verifier mounting the registry, a
    ConfigMap and a generated one of other names, a Helm template sealer cannot read."""
    write(repo, "apps/verifier.yaml", verifier(REGISTRY_NAME))
    write(repo, "apps/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    write(
        repo,
        "apps/kustomization.yaml",
        "configMapGenerator:\n  - name: settings\n    literals: [a=b]\n"
        "patches:\n  - target: {kind: Deployment, name: verifier}\n"
        "    patch: '[{op: replace, path: /spec/replicas, value: 2}]'\n",
    )
    write(
        repo,
        "deploy/staging/values-common.yaml",
        "replicaCount: 2\nextraEnv: [{name: LOG_LEVEL, value: info}]\n",
    )
    write(repo, "chart/templates/secret.yaml", "{{- if .Values.secret }}\nkind: Secret\n{{- end }}\n")
    commit_all(repo, "application manifests")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def test_merging_main_twice_passes(repo: Path) -> None:
    """Main rotates and changes CODEOWNERS between two merges into the pull request: the first
    merge took versions main replaced since, which HEAD no longer holds."""
    write(repo, "notes.txt", "the change\n")
    commit_all(repo, "the change")
    for owners in ("@acme/one", "@acme/two"):
        git(repo, "checkout", "-q", "main")
        assert cli(repo, "rotate", "staging", "--no-branch", "--grace", "1d").exit_code == 0
        write(repo, "CODEOWNERS", f"* {owners}\n")
        commit_all(repo, "main moves on")
        git(repo, "checkout", "-q", "pr")
        git(repo, "merge", "-q", "--no-edit", "main")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def test_a_values_file_moved_to_a_lookalike_name_shows_the_move(repo: Path) -> None:
    """valuеs.yaml (a Cyrillic е) for values.yaml: the finding must not read as no change, and the
    file left behind, which the Argo CD application still reads, is one sealer watches."""
    values = "deploy/staging/values.yaml"
    lookalike = "deploy/staging/valu\u0435s.yaml"
    write(repo, lookalike, (repo / values).read_bytes())
    with config.edit(repo) as doc:
        staging = doc["environments"]["staging"]
        staging["valuesFile"] = staging["clusters"][0]["valuesFile"] = lookalike
    write(repo, values, (repo / values).read_text() + "existingSecret: hand-made-key\n")
    commit_all(repo, "tidy the values")
    code, data = run_review(repo)
    moved = [f["message"] for f in data["findings"] if f["rule"] == "values-file-change"]
    assert code == 1 and moved and all("valu\\u0435s.yaml" in m for m in moved), data["findings"]
    assert ("delivery-change", values) in {(f["rule"], f["path"]) for f in data["findings"]}


@pytest.mark.parametrize("remove_registry", [False, True])
def test_an_environment_taken_out_leaves_no_registry_behind(repo: Path, remove_registry: bool) -> None:
    """No rotation updates production's registry once sealer.yaml drops production: left in
    place, its cluster would accept the keys it lists for good. Nor its sealed file, which a
    GitOps tool keeps applying: approving the env-removed finding passes neither."""
    with config.edit(repo) as doc:
        del doc["environments"]["production"]
    if remove_registry:
        git(repo, "rm", "-q", "-r", "registry/production")
    commit_all(repo, "production decommissioned")
    code, data = run_review(repo)
    left = {f["path"] for f in data["findings"] if f["rule"] == "registry-mismatch"}
    assert code == 1 and "env-removed" in {f["rule"] for f in data["findings"]}
    assert left == (set() if remove_registry else {"registry/production/production.yaml"}), data["findings"]
    sealed = {f["path"] for f in data["findings"] if f["rule"] == "manifest-mismatch"}
    assert sealed == {"sealed/production/production.yaml"}  # a GitOps tool keeps applying it too


def test_a_cluster_taken_out_leaves_no_sealed_file_behind(repo: Path) -> None:
    """main seals staging for a second cluster, eu; the pull request takes eu out of
    `clusters:` and its key registry with it. Its sealed file stays: a GitOps tool keeps
    applying it and no rotation reseals it, so approving the pin-change must not pass it."""
    git(repo, "checkout", "-q", "main")
    cert_pins.pin(repo, "staging", (repo / "certs/staging.pem").read_bytes(), "tls.crt", "eu")
    commit_all(repo, "a second cluster")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    git(repo, "checkout", "-q", "-B", "pr")
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["clusters"].pop(1)
    git(repo, "rm", "-q", "registry/staging/eu.yaml")
    commit_all(repo, "eu gone")
    code, data = run_review(repo)
    found = {(f["rule"], f["path"]) for f in data["findings"]}
    assert code == 1 and found == {
        ("pin-change", "sealer.yaml"),
        ("manifest-mismatch", "sealed/staging/eu.yaml"),
        ("values-mismatch", "deploy/staging/values-eu.yaml"),  # the chart keeps delivering it too
    }
    git(repo, "rm", "-q", "sealed/staging/eu.yaml", "deploy/staging/values-eu.yaml")
    commit_all(repo, "and its sealed data")
    code, data = run_review(repo)
    assert {f["rule"] for f in data["findings"]} == {"pin-change"}, data["findings"]


def test_a_sealed_file_in_another_case_is_left_to_case_collision(repo: Path) -> None:
    """`sealed/staging/Staging.yaml` is staging's sealed file on macOS or Windows: its finding is
    case-collision's, whose fix keeps the real file, not a leftover's `remove it`."""
    write(repo, "sealed/staging/Staging.yaml", (repo / "sealed/staging/staging.yaml").read_text())
    commit_all(repo, "another spelling")
    code, data = run_review(repo)
    rules = {f["rule"] for f in data["findings"] if f["path"] == "sealed/staging/Staging.yaml"}
    assert code == 1 and "case-collision" in rules
    assert not [f for f in data["findings"] if "lists no cluster" in f["message"]], data["findings"]


def kept_on_main(repo: Path, paths: list[str]) -> None:
    """main holds `paths` (a symlink to staging's sealed file where `-> link` ends one); the pull
    request rotates staging, so review looks at what its sealed/ folder holds."""
    git(repo, "checkout", "-q", "main")
    for path in paths:
        rel, link, _ = path.partition(" -> link")
        if link:
            (repo / rel).symlink_to("staging.yaml")
        else:
            write(repo, rel, "kept\n")
    commit_all(repo, "kept beside the sealed files")
    git(repo, "checkout", "-q", "-B", "pr")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0


def test_a_file_no_gitops_tool_applies_in_a_sealed_folder_passes_review(repo: Path) -> None:
    """Argo CD and Flux apply a folder's manifests, jsonnet and kustomization only: a `.gitkeep`
    or a README kept in sealed/staging/ delivers nothing, and every rotation of staging failed
    over it. Nor does one a pull request adds there."""
    kept_on_main(repo, ["sealed/staging/.gitkeep", "sealed/staging/README.md"])
    write(repo, "sealed/production/.DS_Store", "kept\n")
    commit_all(repo, "and one added")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


@pytest.mark.parametrize(
    "path",
    [
        "sealed/staging/notes.yml",
        "sealed/staging/EU.YAML",  # Argo CD reads it on a case-insensitive file system
        "sealed/staging/kustomization.yaml",  # may pull in anything
        "sealed/staging/Kustomization",
        "sealed/staging/eu.jsonnet",  # Argo CD evaluates it
        "sealed/staging/old/README.md",  # a folder counts whole
        "sealed/staging/README.md -> link",  # a symlink may point at anything
    ],
)
def test_what_a_gitops_tool_may_apply_in_a_sealed_folder_fails_review(repo: Path, path: str) -> None:
    kept_on_main(repo, [path])
    rel = path.partition(" -> ")[0]
    code, data = run_review(repo)
    assert code == 1 and ("manifest-mismatch", rel) in {(f["rule"], f["path"]) for f in data["findings"]}


def test_a_file_no_gitops_tool_applies_in_a_registry_folder_passes_review(repo: Path) -> None:
    """As `sealer check` (key-registry) passes it: a `.gitkeep` or a README a pull request adds
    beside staging's key registry, or kept there, lists no key a cluster would accept."""
    kept_on_main(repo, ["registry/staging/README.md"])
    write(repo, "registry/staging/.gitkeep", "kept\n")
    write(repo, "registry/.gitkeep", "kept\n")
    commit_all(repo, "and some added")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


@pytest.mark.parametrize(
    "path",
    [
        "registry/staging/notes.yml",
        "registry/staging/registry.json",
        "registry/staging/old/README.md",  # a folder counts whole
        "registry/staging/README.md -> link",  # a symlink may point at anything
    ],
)
def test_what_a_gitops_tool_may_apply_in_a_registry_folder_fails_review(repo: Path, path: str) -> None:
    """What the pull request adds there a GitOps tool may apply, and no rotation updates."""
    git(repo, "checkout", "-q", "-B", "pr", "main")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    rel, link, _ = path.partition(" -> link")
    if link:
        (repo / rel).symlink_to("staging.yaml")
    else:
        write(repo, rel, "kept\n")
    commit_all(repo, "added beside the registry")
    code, data = run_review(repo)
    assert code == 1 and ("registry-mismatch", rel) in {(f["rule"], f["path"]) for f in data["findings"]}


def test_a_values_file_left_of_a_cluster_taken_out_says_so(repo: Path) -> None:
    """The pull request takes eu out of `clusters:` with its sealed file and key registry, and
    keeps eu's values file, whose `sealer:` subtree the chart keeps delivering: review fails it
    as left behind, not as a ciphertext edited by hand."""
    git(repo, "checkout", "-q", "main")
    cert_pins.pin(repo, "staging", (repo / "certs/staging.pem").read_bytes(), "tls.crt", "eu")
    commit_all(repo, "a second cluster")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    git(repo, "checkout", "-q", "-B", "pr")
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["clusters"].pop(1)
    git(repo, "rm", "-q", "registry/staging/eu.yaml", "sealed/staging/eu.yaml")
    commit_all(repo, "eu gone, its values file kept")
    code, data = run_review(repo)
    found = {(f["rule"], f["path"]): f["message"] for f in data["findings"]}
    values = ("values-mismatch", "deploy/staging/values-eu.yaml")
    assert code == 1 and set(found) == {("pin-change", "sealer.yaml"), values}, data["findings"]
    assert "sealer.yaml no longer lists, still carries sealer's `sealer:` subtree" in found[values]
    assert found[values].endswith("remove the file, or its `sealer:` key")
    kept = yaml.safe_load((repo / values[1]).read_text())
    write(
        repo, values[1], yaml.safe_dump({k: v for k, v in kept.items() if k != "sealer"} or {"replicas": 1})
    )
    commit_all(repo, "its sealer: key removed, the rest of the file kept")
    code, data = run_review(repo)
    assert {f["rule"] for f in data["findings"]} == {"pin-change"}, data["findings"]
