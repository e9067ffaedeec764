"""Helm values from outside an application's manifest: Argo CD's `valueFiles` and
`fileParameters`, Flux's `chart.spec.valuesFiles` and `valuesFrom` (a kustomize generator's
ConfigMap), read from the revision's tree and judged as inline values are (naming a managed
Secret or key registry, a chart may render one); what review cannot resolve fails closed. A
changed file such an object passes fails too, the object left alone. Flux's `postRenderers`
patches, which may rename what Helm rendered, fail unless a code owner approves."""

from __future__ import annotations

import base64
import hashlib
import posixpath
from pathlib import Path
from typing import Any

import pytest
from support.git import commit_all, git
from support.isolation import isolated
from support.pull_requests import in_a_list, on_main, reviewed_after, write
from support.repos import keypairs, pr_checkout, rotated_template

CHART = "deploy/app"
VALUES = "env/staging/app-values.yaml"  # outside the chart: no chart file
NAMING = "settings:\n  name: engine-api-key-registry\n  data: {}\n"
PLAIN = "replicaCount: 2\nimage: app:1.2\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging rotated, and a chart rendering a ConfigMap of the name its values give."""
    root = rotated_template(tmp_path_factory, keypairs(tmp_path_factory, "staging", "production"))
    with isolated(tmp_path_factory.mktemp("home")):
        write(root, f"{CHART}/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        write(root, f"{CHART}/values.yaml", "replicaCount: 1\n")
        write(
            root,
            f"{CHART}/templates/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.settings.name }}\n"
            "data:\n  {{- toYaml .Values.settings.data | nindent 2 }}\n",
        )
        commit_all(root, "the application's chart")
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def uncleared(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f
        for f in findings
        if f["rule"] == "trust-anchor-change"
        and ("review cannot clear" in f["message"] or "passes a chart name" in f["message"])
    ]


def application(helm: str, source: str = "    path: deploy/app\n", kind: str = "Application") -> str:
    spec = "spec:\n  destination: {namespace: staging}\n  source:\n" + source + "    helm:\n" + helm
    if kind == "ApplicationSet":
        spec = "spec:\n  generators: [{list: {elements: [{env: staging}]}}]\n  template:\n" + "".join(
            f"    {line}\n" for line in spec.replace("spec:", "spec:", 1).splitlines()
        )
    return (
        f"apiVersion: argoproj.io/v1alpha1\nkind: {kind}\nmetadata: {{name: app, namespace: argocd}}\n{spec}"
    )


def value_files(*files: str) -> str:
    return "      valueFiles:\n" + "".join(f"        - {f}\n" for f in files)


def helm_release(spec: str) -> str:
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: flux}\n"
        "spec:\n  interval: 5m\n  targetNamespace: staging\n  chart:\n    spec:\n      chart: deploy/app\n"
        "      sourceRef: {kind: GitRepository, name: repo}\n" + spec
    )


VALUES_FROM = "  valuesFrom:\n    - kind: ConfigMap\n      name: app-values\n"


def generator(file: str = "app-values.yaml") -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [release.yaml]\n"
        f"configMapGenerator:\n  - name: app-values\n    files: [values.yaml={file}]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    )


# -- fails -----------------------------------------------------------------------------------------


def argo_value_file_naming_the_registry(repo: Path) -> None:
    write(repo, VALUES, NAMING)
    write(repo, "argocd/app.yaml", application(value_files("../../" + VALUES)))


def argo_value_file_changed_under_an_unchanged_application(repo: Path) -> None:
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": application(value_files("../../" + VALUES))})
    write(repo, VALUES, NAMING)


def argo_value_file_of_another_source(repo: Path) -> None:
    write(repo, "argocd/app.yaml", application(value_files("$values/staging/values.yaml")))


def argo_value_file_not_in_the_revision(repo: Path) -> None:
    write(repo, "argocd/app.yaml", application(value_files("../../env/elsewhere.yaml")))


def argo_value_file_of_a_repository_chart(repo: Path) -> None:
    source = "    repoURL: https://charts.example.test\n    chart: app\n    targetRevision: 1.0.0\n"
    write(repo, "argocd/app.yaml", application(value_files("values-staging.yaml"), source))


def argo_file_parameter_naming_the_secret(repo: Path) -> None:
    write(repo, "env/staging/name.txt", "engine-api-key\n")
    params = "      fileParameters:\n        - {name: settings.name, path: ../../env/staging/name.txt}\n"
    write(repo, "argocd/app.yaml", application(params))


def application_set_value_file_naming_the_registry(repo: Path) -> None:
    write(repo, VALUES, NAMING)
    write(repo, "argocd/apps.yaml", application(value_files("../../" + VALUES), kind="ApplicationSet"))


def flux_values_file_naming_the_registry(repo: Path) -> None:
    write(repo, VALUES, NAMING)
    write(repo, "flux/release.yaml", helm_release(f"      valuesFiles: [{VALUES}]\n"))


def flux_values_from_a_generated_config_map_naming_the_registry(repo: Path) -> None:
    write(repo, "flux/app-values.yaml", NAMING)
    write(repo, "flux/kustomization.yaml", generator())
    write(repo, "flux/release.yaml", helm_release(VALUES_FROM))


def flux_generated_values_changed_under_an_unchanged_release(repo: Path) -> None:
    on_main(
        repo,
        {
            "flux/app-values.yaml": PLAIN,
            "flux/kustomization.yaml": generator(),
            "flux/release.yaml": helm_release(VALUES_FROM),
        },
    )
    write(repo, "flux/app-values.yaml", NAMING)


def flux_values_from_a_config_map_no_generator_makes(repo: Path) -> None:
    write(repo, "flux/release.yaml", helm_release(VALUES_FROM))


def flux_values_from_a_config_map_written_out_under_an_unchanged_release(repo: Path) -> None:
    """main's HelmRelease reads a ConfigMap a generator makes; the pull request adds a plain
    manifest of the same name, which a GitOps tool applies too (the later one wins)."""
    on_main(
        repo,
        {
            "flux/app-values.yaml": PLAIN,
            "flux/kustomization.yaml": generator(),
            "flux/release.yaml": helm_release(VALUES_FROM),
        },
    )
    write(
        repo,
        "apps/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-values, namespace: flux}\ndata:\n"
        "  values.yaml: |\n    settings: {name: engine-api-key-registry}\n",
    )


def argo_linked_value_file_s_target_changed(repo: Path) -> None:
    """main's application passes a symlink, approved then; the file it leads to now names the registry."""
    on_main(
        repo, {"shared/values.yaml": PLAIN, "argocd/app.yaml": application(value_files("../../" + VALUES))}
    )
    git(repo, "checkout", "-q", "main")
    (repo / VALUES).parent.mkdir(parents=True)
    (repo / VALUES).symlink_to("../../shared/values.yaml")
    commit_all(repo, "a linked values file")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "shared/values.yaml", NAMING)


def argo_value_file_s_folder_linked_on_main_target_changed(repo: Path) -> None:
    """main's application passes a file through a linked folder (Argo CD follows the link); the
    file in the folder it leads to now names the registry."""
    linked = "config/app/values.yaml"
    on_main(
        repo, {"shared/values.yaml": PLAIN, "argocd/app.yaml": application(value_files("../../" + linked))}
    )
    git(repo, "checkout", "-q", "main")
    (repo / "config").mkdir()
    (repo / "config/app").symlink_to("../shared")
    commit_all(repo, "a linked values folder")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, "shared/values.yaml", NAMING)


def argo_value_file_s_folder_made_a_link_under_an_unchanged_application(repo: Path) -> None:
    """The pull request turns the folder of main's values file into a link to one it fills."""
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": application(value_files("../../" + VALUES))})
    git(repo, "rm", "-q", "-r", posixpath.dirname(VALUES))
    (repo / VALUES).parent.mkdir(parents=True, exist_ok=True)
    (repo / VALUES).parent.rmdir()
    (repo / VALUES).parent.symlink_to("../shared")
    write(repo, f"env/shared/{posixpath.basename(VALUES)}", NAMING)


def argo_value_file_of_a_utf16_application_changed(repo: Path) -> None:
    """main's application is UTF-16 text (YAML readers decode it; no byte search finds its words)."""
    on_main(repo, {VALUES: PLAIN})
    git(repo, "checkout", "-q", "main")
    (repo / "argocd").mkdir()
    (repo / "argocd/app.yaml").write_bytes(application(value_files("../../" + VALUES)).encode("utf-16"))
    commit_all(repo, "a UTF-16 application")
    git(repo, "checkout", "-q", "-B", "pr")
    write(repo, VALUES, NAMING)


def flux_values_of_an_escaped_generator_changed(repo: Path) -> None:
    """main's generator spells its keys with YAML escapes (no byte search finds `generator`)."""
    escaped = (
        generator()
        .replace("Generator:", '\\x47enerator":')
        .replace("generatorOptions", '"\\x67eneratorOptions"')
    )
    escaped = escaped.replace("configMap\\x47", '"configMap\\x47')
    on_main(
        repo,
        {
            "flux/app-values.yaml": PLAIN,
            "flux/kustomization.yaml": escaped,
            "flux/release.yaml": helm_release(VALUES_FROM),
        },
    )
    write(repo, "flux/app-values.yaml", NAMING)


def argo_value_file_from_the_repository_top_changed(repo: Path) -> None:
    """A leading slash: Argo CD reads the file from the repository's top."""
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": application(value_files("/" + VALUES))})
    write(repo, VALUES, NAMING)


HELM_CHART = (
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmChart\nmetadata: {name: app, namespace: flux}\n"
    "spec:\n  chart: deploy/app\n  sourceRef: {kind: GitRepository, name: repo}\n"
    f"  valuesFiles: [{VALUES}]\n"
)
CHART_REF = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: flux}\n"
    "spec:\n  targetNamespace: staging\n  chartRef: {kind: HelmChart, name: app}\n"
)


def flux_helm_chart_s_values_file_naming_the_registry(repo: Path) -> None:
    """A HelmRelease's `chartRef` names a HelmChart, whose own `valuesFiles` Helm reads."""
    write(repo, VALUES, NAMING)
    write(repo, "flux/chart.yaml", HELM_CHART)
    write(repo, "flux/release.yaml", CHART_REF)


def flux_helm_chart_s_values_file_changed_under_an_unchanged_chart(repo: Path) -> None:
    on_main(repo, {VALUES: PLAIN, "flux/chart.yaml": HELM_CHART, "flux/release.yaml": CHART_REF})
    write(repo, VALUES, NAMING)


MULTI_SOURCE = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: app, namespace: argocd}\n"
    "spec:\n  destination: {namespace: staging}\n  sources:\n"
    "    - {repoURL: 'https://git.example.test/repo.git', ref: values}\n"
    "    - repoURL: 'https://git.example.test/repo.git'\n      path: deploy/app\n"
    f"      helm:\n        valueFiles: [$values/{VALUES}]\n"
)


def argo_value_file_of_a_ref_source_changed_under_an_unchanged_application(repo: Path) -> None:
    """main's application reads values from its `ref` source, approved then: that source may be
    this repository (the usual multi-source layout), so the file at that path counts."""
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": MULTI_SOURCE})
    write(repo, VALUES, NAMING)


def flux_values_from_a_secret_sealed_under_an_unchanged_release(repo: Path) -> None:
    """main's HelmRelease reads values from a Secret; the pull request seals one of that name
    (anyone may seal with the public certificate), whose values review cannot read."""
    on_main(repo, {"flux/release.yaml": helm_release(VALUES_FROM.replace("ConfigMap", "Secret"))})
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(18))  # an RSA-4096 ct, GCM ct
    sealed = base64.b64encode(len(noise[:512]).to_bytes(2, "big") + noise).decode()
    write(
        repo,
        "apps/values.yaml",
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: app-values}\n"
        f"spec:\n  encryptedData:\n    values.yaml: {sealed}\n",
    )


def flux_values_from_a_config_map_a_prefixing_kustomization_names(repo: Path) -> None:
    """main's HelmRelease reads `flux-app-values`; main's kustomization prefixes what its folder
    holds with `flux-`, and the pull request adds a ConfigMap `app-values` there."""
    on_main(
        repo,
        {
            "flux/release.yaml": helm_release(VALUES_FROM.replace("app-values", "flux-app-values")),
            "apps/kustomization.yaml": "namePrefix: flux-\nresources: [deployment.yaml, values.yaml]\n",
            "apps/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n",
        },
    )
    write(
        repo,
        "apps/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-values, namespace: flux}\ndata:\n"
        "  values.yaml: |\n    settings: {name: engine-api-key-registry}\n",
    )


def application_set_template_patch_setting_value_files(repo: Path) -> None:
    patch = (
        "  templatePatch: |\n    spec:\n      source:\n        helm:\n"
        "          valueFiles: ['{{ .env }}.yaml']\n"
    )
    write(repo, "argocd/apps.yaml", application("      releaseName: app\n", kind="ApplicationSet") + patch)


def argo_value_file_of_a_listed_application_naming_the_registry(repo: Path) -> None:
    write(repo, VALUES, NAMING)
    write(repo, "argocd/app.yaml", in_a_list(application(value_files("../../" + VALUES))))


def argo_value_file_changed_under_an_unchanged_listed_application(repo: Path) -> None:
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": in_a_list(application(value_files("../../" + VALUES)))})
    write(repo, VALUES, NAMING)


FAILING = [
    argo_value_file_naming_the_registry,
    argo_value_file_of_a_listed_application_naming_the_registry,
    argo_value_file_changed_under_an_unchanged_listed_application,
    argo_value_file_changed_under_an_unchanged_application,
    argo_value_file_of_another_source,
    argo_value_file_not_in_the_revision,
    argo_value_file_of_a_repository_chart,
    argo_file_parameter_naming_the_secret,
    application_set_value_file_naming_the_registry,
    flux_values_file_naming_the_registry,
    flux_values_from_a_generated_config_map_naming_the_registry,
    flux_generated_values_changed_under_an_unchanged_release,
    flux_values_from_a_config_map_no_generator_makes,
    argo_linked_value_file_s_target_changed,
    flux_values_from_a_config_map_written_out_under_an_unchanged_release,
    application_set_template_patch_setting_value_files,
    argo_value_file_s_folder_linked_on_main_target_changed,
    argo_value_file_s_folder_made_a_link_under_an_unchanged_application,
    argo_value_file_of_a_utf16_application_changed,
    flux_values_of_an_escaped_generator_changed,
    argo_value_file_from_the_repository_top_changed,
    flux_helm_chart_s_values_file_naming_the_registry,
    flux_helm_chart_s_values_file_changed_under_an_unchanged_chart,
    argo_value_file_of_a_ref_source_changed_under_an_unchanged_application,
    flux_values_from_a_secret_sealed_under_an_unchanged_release,
    flux_values_from_a_config_map_a_prefixing_kustomization_names,
]


@pytest.mark.parametrize("attack", FAILING, ids=[a.__name__ for a in FAILING])
def test_helm_values_passed_from_a_file_or_object_that_may_name_what_sealer_delivers_fail(
    repo: Path, attack: Any
) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and uncleared(findings), findings


def test_the_finding_names_the_file_and_the_application_passing_it(repo: Path) -> None:
    _, findings = reviewed_after(repo, argo_value_file_changed_under_an_unchanged_application)
    [found] = uncleared(findings)
    assert found["path"] == VALUES
    assert "argocd/app.yaml" in found["message"] and "code owner" in found["message"]


def post_renderers(spec: str) -> str:
    return helm_release("  postRenderers:\n    - kustomize:\n" + spec)


RENAMING_PATCH = (
    "        patches:\n          - target: {kind: ConfigMap, name: app-settings}\n"
    "            patch: |\n"
    "              - {op: replace, path: /metadata/name, value: engine-api-key-registry}\n"
)


def post_renderers_patching_what_helm_rendered(repo: Path) -> None:
    write(repo, "flux/release.yaml", post_renderers(RENAMING_PATCH))


def post_renderers_patch_added_to_a_release(repo: Path) -> None:
    on_main(repo, {"flux/release.yaml": post_renderers("        images: [{name: app, newTag: '1.2'}]\n")})
    write(
        repo,
        "flux/release.yaml",
        post_renderers("        images: [{name: app, newTag: '1.2'}]\n" + RENAMING_PATCH),
    )


@pytest.mark.parametrize(
    "attack", [post_renderers_patching_what_helm_rendered, post_renderers_patch_added_to_a_release]
)
def test_a_helm_release_s_post_renderers_patch_fails(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    patched = [f for f in findings if f["rule"] == "trust-anchor-change" and "postRenderers" in f["message"]]
    assert code == 1 and [f["path"] for f in patched] == ["flux/release.yaml"], findings


# -- passes ----------------------------------------------------------------------------------------


def argo_value_file_naming_nothing_managed(repo: Path) -> None:
    write(repo, VALUES, PLAIN)
    write(repo, "argocd/app.yaml", application(value_files("../../" + VALUES)))


def argo_value_file_from_the_repository_top_naming_nothing_managed(repo: Path) -> None:
    write(repo, VALUES, PLAIN)
    write(repo, "argocd/app.yaml", application(value_files("/" + VALUES)))


def argo_value_file_changed_naming_nothing_managed(repo: Path) -> None:
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": application(value_files("../../" + VALUES))})
    write(repo, VALUES, "replicaCount: 3\nimage: app:1.3\n")


def unreferenced_file_naming_the_secret(repo: Path) -> None:
    """A workload manifest reading staging's Secret, which no Helm object passes as values."""
    on_main(repo, {VALUES: PLAIN, "argocd/app.yaml": application(value_files("../../" + VALUES))})
    write(
        repo,
        "apps/job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: job}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: job\n          envFrom: [{secretRef: {name: engine-api-key}}]\n",
    )


def this_repository_source(repo: Path) -> None:
    """main's GitRepository `repo`: this repository (its remote's URL) at branch main, the one the
    change is merged into; the chart's source."""
    url = "https://git.example.test/acme/gitops.git"
    git(repo, "remote", "add", "origin", url)
    source = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
    on_main(
        repo,
        {
            "flux/source.yaml": source
            + f"metadata: {{name: repo, namespace: flux}}\nspec: {{url: {url}, ref: {{branch: main}}}}\n"
        },
    )


def flux_generated_values_naming_nothing_managed(repo: Path) -> None:
    this_repository_source(repo)
    write(repo, "flux/app-values.yaml", PLAIN)
    write(repo, "flux/kustomization.yaml", generator())
    write(repo, "flux/release.yaml", helm_release(VALUES_FROM))


def flux_release_bumped_with_an_unresolved_values_from_kept(repo: Path) -> None:
    """A valuesFrom already approved on main (a ConfigMap the cluster holds) stays as it was."""
    on_main(repo, {"flux/release.yaml": helm_release(VALUES_FROM)})
    write(repo, "flux/release.yaml", helm_release(VALUES_FROM).replace("interval: 5m", "interval: 10m"))


def post_renderers_setting_images(repo: Path) -> None:
    this_repository_source(repo)
    write(repo, "flux/release.yaml", post_renderers("        images: [{name: app, newTag: '1.2'}]\n"))


PASSING = [
    argo_value_file_naming_nothing_managed,
    argo_value_file_changed_naming_nothing_managed,
    argo_value_file_from_the_repository_top_naming_nothing_managed,
    unreferenced_file_naming_the_secret,
    flux_generated_values_naming_nothing_managed,
    flux_release_bumped_with_an_unresolved_values_from_kept,
    post_renderers_setting_images,
]


@pytest.mark.parametrize("change", PASSING, ids=[c.__name__ for c in PASSING])
def test_helm_values_passed_from_files_naming_nothing_managed_pass(repo: Path, change: Any) -> None:
    code, findings = reviewed_after(repo, change)
    assert code == 0 and not findings, findings
