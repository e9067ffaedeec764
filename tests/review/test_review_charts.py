"""Helm charts kept in the repository: Argo CD, Flux and kustomize's `helmCharts` render them
with values review cannot know, so a chart's file that could render a Secret sealer manages
or a key registry (and any change to a chart with such a template, sealer's own vendored)
fails unless a code owner approves; an application's chart that only reads the Secret passes."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.chart import CHART_DIR
from support.git import commit_all, git
from support.isolation import isolated
from support.pull_requests import in_a_list, on_main, reviewed_after, write
from support.repos import keypairs, pr_checkout, rotated_template

CHART = "deploy/app"
REGISTRY = "registry/staging/staging.yaml"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging and production rotated once, and an application chart reading staging's Secret."""
    root = rotated_template(tmp_path_factory, keypairs(tmp_path_factory, "staging", "production"))
    with isolated(tmp_path_factory.mktemp("home")):
        write(root, f"{CHART}/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        write(root, f"{CHART}/values.yaml", "replicaCount: 1\n")
        write(root, f"{CHART}/templates/deployment.yaml", deployment())
        commit_all(root, "the application's chart")
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def unrendered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f for f in findings if f["rule"] == "trust-anchor-change" and "does not render charts" in f["message"]
    ]


def deployment(extra: str = "") -> str:
    """The application's Deployment: it reads staging's Secret (secretKeyRef, envFrom), renders none."""
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        '  name: {{ include "app.fullname" . }}\n  namespace: {{ .Release.Namespace }}\n'
        "spec:\n  replicas: {{ .Values.replicaCount }}\n  template:\n    spec:\n      containers:\n"
        "        - name: app\n          image: {{ .Values.image | quote }}\n          env:\n"
        "            - name: API_KEY\n              valueFrom:\n                secretKeyRef:\n"
        "                  name: engine-api-key\n                  key: apiKey\n"
        "            {{- with .Values.extraEnv }}\n            {{- toYaml . | nindent 12 }}\n"
        "            {{- end }}\n          envFrom:\n            - secretRef:\n"
        f"                name: engine-api-key\n{extra}"
    )


def registry_in_a_template(repo: Path) -> None:
    """A ConfigMap named like staging's key registry, carrying the author's fingerprints: a
    chart template (an `{{ if }}` around it) is no YAML a reader of manifests reads."""
    body = (repo / REGISTRY).read_text()
    write(repo, f"{CHART}/templates/registry.yaml", "{{- if .Values.enabled }}\n" + body + "{{- end }}\n")


def secret_of_a_templated_name(repo: Path) -> None:
    write(
        repo,
        f"{CHART}/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.keySecret }}\n"
        "stringData:\n  apiKey: {{ .Values.key | quote }}\n",
    )


def sealed_secret_named_like_staging_s(repo: Path) -> None:
    write(
        repo,
        f"{CHART}/templates/sealed.yaml",
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: engine-api-key\n"
        "  namespace: {{ .Release.Namespace }}\nspec:\n  encryptedData:\n    apiKey: {{ .Values.c }}\n",
    )


def registry_named_in_the_values(repo: Path) -> None:
    """main's chart renders a ConfigMap of the values' name and entries; the pull request only
    changes the values."""
    on_main(
        repo,
        {
            f"{CHART}/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: {{ .Values.settings.name }}\ndata:\n  {{- toYaml .Values.settings.data | nindent 2 }}\n"
        },
    )
    write(repo, f"{CHART}/values.yaml", "settings:\n  name: engine-api-key-registry\n  data: {}\n")


def secret_template_in_a_folder_made_a_chart(repo: Path) -> None:
    """The template was on main in a folder no tool rendered; the pull request adds Chart.yaml."""
    on_main(
        repo,
        {
            "tools/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n"
            "  name: {{ .Values.name }}\n"
        },
    )
    write(repo, "tools/Chart.yaml", "apiVersion: v2\nname: tools\nversion: 0.1.0\n")


def packaged_subchart(repo: Path) -> None:
    data = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.name }}\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in (
            ("sub/Chart.yaml", b"apiVersion: v2\nname: sub\nversion: 1.0.0\n"),
            ("sub/templates/s.yaml", data),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    (repo / CHART / "charts").mkdir()
    (repo / CHART / "charts/sub-1.0.0.tgz").write_bytes(buffer.getvalue())


def linked_template(repo: Path) -> None:
    write(repo, "docs/secret.txt", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.name }}\n")
    (repo / CHART / "templates/secret.yaml").symlink_to("../../../docs/secret.txt")


def template_rendering_another_file(repo: Path) -> None:
    """main's chart holds a SealedSecret named like staging's as a plain file; a template now
    renders it as it is."""
    on_main(repo, {f"{CHART}/files/keys.yaml": (repo / "sealed/staging/staging.yaml").read_text()})
    write(repo, f"{CHART}/templates/keys.yaml", '{{ .Files.Get "files/keys.yaml" }}\n')


def app_of(values: str) -> str:
    """An Argo CD application rendering the application's chart with inline values."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: app, namespace: argocd}\n"
        "spec:\n  destination: {namespace: staging}\n  source:\n    path: deploy/app\n"
        f"    helm:\n      valuesObject: {values}\n"
    )


def registry_named_in_an_application_s_values(repo: Path) -> None:
    """main's chart renders a ConfigMap of the values' name and entries; the application
    deploying it passes the values."""
    on_main(
        repo,
        {
            f"{CHART}/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: {{ .Values.settings.name }}\ndata:\n  {{- toYaml .Values.settings.data | nindent 2 }}\n",
            "argocd/app.yaml": app_of("{replicaCount: 2}"),
        },
    )
    write(repo, "argocd/app.yaml", app_of("{settings: {name: engine-api-key-registry}}"))


def registry_named_in_a_listed_application_s_values(repo: Path) -> None:
    """The same application as a List's item (applied as one on its own is)."""
    on_main(
        repo,
        {
            f"{CHART}/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: {{ .Values.settings.name }}\n",
            "argocd/app.yaml": in_a_list(app_of("{replicaCount: 2}")),
        },
    )
    write(repo, "argocd/app.yaml", in_a_list(app_of("{settings: {name: engine-api-key-registry}}")))


def registry_in_an_application_s_values_a_chart_renders_as_a_template(repo: Path) -> None:
    """main's chart passes its values through `tpl`; the application's values build the names
    with actions, so none is written out."""
    on_main(
        repo,
        {
            f"{CHART}/templates/extra.yaml": "{{ tpl (toYaml .Values.extra) . }}\n",
            "argocd/app.yaml": app_of("{replicaCount: 2}"),
        },
    )
    values = (
        '{extra: {apiVersion: v1, kind: ConfigMap, metadata: {name: \'{{ printf "%s-%s-%s" "engine" '
        '"api" "key-registry" }}\'}, data: {\'{{ printf "registry.%s" "json" }}\': x}}}'
    )
    write(repo, "argocd/app.yaml", app_of(values))


def application_set_of(helm: str) -> str:
    """An ApplicationSet rendering the application's chart, one application per list element."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: apps, namespace: argocd}\n"
        "spec:\n  generators: [{list: {elements: [{env: staging, a: engine, b: registry}]}}]\n"
        "  template:\n    metadata: {name: 'app-{{env}}'}\n"
        "    spec:\n      destination: {namespace: '{{env}}'}\n"
        f"      source:\n        path: deploy/app\n        helm:\n{helm}"
    )


def registry_named_from_parts_an_application_set_s_generators_give(repo: Path) -> None:
    """The ApplicationSet renders the name into the values from its generators' parameters:
    no scalar names the registry whole."""
    on_main(
        repo,
        {
            f"{CHART}/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: {{ .Values.settings.name }}\n",
        },
    )
    params = "          parameters: [{name: settings.name, value: '{{a}}-api-key-{{b}}'}]\n"
    write(repo, "argocd/apps.yaml", application_set_of(params))


def chart_depending_on_another_repository_s(repo: Path) -> None:
    """A dependency Argo CD fetches (`helm dependency build`): its templates, unread here, render
    into the application's namespace under any name."""
    write(
        repo,
        f"{CHART}/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: tools\n"
        "    version: 1.0.0\n    repository: https://charts.example.test\n",
    )


def chart_depending_on_a_sibling_folder(repo: Path) -> None:
    """main holds a chart no application renders; a dependency (`file://../tools`) now does."""
    on_main(
        repo,
        {
            "deploy/tools/Chart.yaml": "apiVersion: v2\nname: tools\nversion: 1.0.0\n",
            "deploy/tools/templates/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n"
            "  name: {{ .Values.name }}\n",
        },
    )
    write(
        repo,
        f"{CHART}/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: tools\n"
        "    version: 1.0.0\n    repository: file://../tools\n",
    )


def external_secret_named_like_staging_s(repo: Path, kinds: str = "kind: ExternalSecret\n") -> None:
    """Any object but a workload naming staging's Secret may make one of that name."""
    write(
        repo,
        f"{CHART}/templates/external.yaml",
        "apiVersion: external-secrets.io/v1beta1\n" + kinds + "metadata:\n"
        '  name: {{ include "app.fullname" . }}\nspec:\n  target:\n    name: engine-api-key\n',
    )


def external_secret_also_called_a_deployment(repo: Path) -> None:
    external_secret_named_like_staging_s(repo, "kind: Deployment\nkind: ExternalSecret\n")


def registry_made_by_an_action(repo: Path) -> None:
    """A line of one action makes the whole ConfigMap: its skeleton holds no YAML to read."""
    write(
        repo,
        f"{CHART}/templates/extra.yaml",
        '{{ toYaml (dict "apiVersion" "v1" "kind" "ConfigMap" "metadata" (dict "name" (printf "%s-%s-%s" '
        '"engine" "api" "key-registry")) "data" (dict (printf "registry.%s" "json") .Values.fp)) }}\n',
    )


def registry_from_values_through_tpl(repo: Path) -> None:
    """`tpl` renders a values string as a template: the ConfigMap is a string in values.yaml."""
    write(repo, f"{CHART}/templates/extra.yaml", "{{ tpl .Values.extra . }}\n")
    write(
        repo,
        f"{CHART}/values.yaml",
        "replicaCount: 1\nextra: |\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
        '    name: {{ printf "%s-%s-%s" "engine" "api" "key-registry" }}\n  data:\n'
        '    {{ printf "registry.%s" "json" }}: {{ .Values.fp | quote }}\n',
    )


def registry_of_a_kind_an_action_writes(repo: Path) -> None:
    """The `kind:` line is an action's output: the object review reads has no kind."""
    write(
        repo,
        f"{CHART}/templates/extra.yaml",
        'apiVersion: v1\n{{ printf "ki%s: Config%s" "nd" "Map" }}\nmetadata:\n'
        '  name: {{ printf "%s-%s-%s" "engine" "api" "key-registry" }}\ndata:\n'
        '  {{ printf "registry.%s" "json" }}: {{ .Values.fp | quote }}\n',
    )


def registry_whose_metadata_an_action_writes(repo: Path) -> None:
    """The `kind:` and `metadata:` lines are actions' output: the rest is no YAML on its own."""
    write(
        repo,
        f"{CHART}/templates/extra.yaml",
        'apiVersion: v1\n{{ printf "ki%s: Config%s" "nd" "Map" }}\n{{ printf "meta%s:" "data" }}\n'
        '  name: {{ printf "%s-%s-%s" "engine" "api" "key-registry" }}\ndata:\n'
        '  {{ printf "registry.%s" "json" }}: {{ .Values.fp | quote }}\n',
    )


REGISTRY_CHART = {
    "deploy/registry/Chart.yaml": "apiVersion: v2\nname: registry\nversion: 0.1.0\n",
    "deploy/registry/templates/registry.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
    "  name: {{ .Release.Name }}-key-registry\n  namespace: {{ .Release.Namespace }}\ndata:\n"
    "  registry.json: {{ .Values.fingerprints | toJson | quote }}\n",
}


def helm_release(namespace: str) -> str:
    """A Flux HelmRelease of main's registry chart (this repository's), release engine-api."""
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: reg, namespace: flux}\n"
        "spec:\n  releaseName: engine-api\n  chart:\n    spec:\n      chart: ./deploy/registry\n"
        f"      sourceRef: {{kind: GitRepository, name: repo}}\n  targetNamespace: {namespace}\n"
    )


def registry_chart_s_release_moved_into_staging(repo: Path) -> None:
    """main's chart renders `<release>-key-registry` (approved: other services' registries); the
    pull request only moves a release named from parts into staging: no value names one."""
    on_main(repo, {**REGISTRY_CHART, "clusters/reg.yaml": helm_release("tools")})
    write(repo, "clusters/reg.yaml", helm_release("staging"))


def registry_chart_s_release_through_a_helm_chart(repo: Path) -> None:
    """A new HelmRelease whose `chartRef` names main's HelmChart of the registry chart."""
    helm_chart = (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmChart\n"
        "metadata: {name: registry, namespace: flux}\n"
        "spec:\n  chart: ./deploy/registry\n  sourceRef: {kind: GitRepository, name: repo}\n"
    )
    on_main(repo, {**REGISTRY_CHART, "clusters/chart.yaml": helm_chart})
    release = (
        helm_release("staging").split("  chart:\n")[0] + "  chartRef: {kind: HelmChart, name: registry}\n"
    )
    write(repo, "clusters/reg.yaml", release + "  targetNamespace: staging\n")


def registry_chart_rendered_by_an_application_set(repo: Path) -> None:
    """An ApplicationSet whose templated path may name main's registry chart."""
    on_main(repo, REGISTRY_CHART)
    write(
        repo,
        "argocd/apps.yaml",
        application_set_of("          releaseName: engine-api\n").replace(
            "path: deploy/app", "path: 'deploy/{{b}}'"
        ),
    )


ATTACKS = [
    registry_chart_s_release_moved_into_staging,
    registry_chart_rendered_by_an_application_set,
    registry_chart_s_release_through_a_helm_chart,
    registry_whose_metadata_an_action_writes,
    chart_depending_on_another_repository_s,
    chart_depending_on_a_sibling_folder,
    registry_made_by_an_action,
    registry_from_values_through_tpl,
    registry_of_a_kind_an_action_writes,
    external_secret_named_like_staging_s,
    external_secret_also_called_a_deployment,
    registry_named_in_an_application_s_values,
    registry_named_in_a_listed_application_s_values,
    registry_in_an_application_s_values_a_chart_renders_as_a_template,
    registry_named_from_parts_an_application_set_s_generators_give,
    template_rendering_another_file,
    registry_in_a_template,
    secret_of_a_templated_name,
    sealed_secret_named_like_staging_s,
    registry_named_in_the_values,
    secret_template_in_a_folder_made_a_chart,
    packaged_subchart,
    linked_template,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_a_chart_file_that_could_render_what_sealer_delivers_fails(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and unrendered(findings), findings


def test_the_finding_names_the_chart_and_asks_a_code_owner(repo: Path) -> None:
    _, findings = reviewed_after(repo, registry_in_a_template)
    [found] = unrendered(findings)
    assert found["path"] == f"{CHART}/templates/registry.yaml"
    assert f"the Helm chart {CHART}" in found["message"] and "code owner" in found["message"]


@pytest.fixture
def vendored(repo: Path) -> Path:
    """main holds a copy of sealer's own chart: it renders staging's SealedSecret from the values."""
    git(repo, "checkout", "-q", "main")
    shutil.copytree(
        CHART_DIR, repo / "deploy/engine", ignore=shutil.ignore_patterns("__init__.py", "__pycache__")
    )
    commit_all(repo, "vendor sealer's chart")
    git(repo, "checkout", "-q", "-B", "pr")
    return repo


def helpers_moving_the_sealed_secret(repo: Path) -> None:
    """The helper now puts the SealedSecret in the release's namespace, whatever it was sealed for."""
    helpers = repo / "deploy/engine/templates/_helpers.tpl"
    text = helpers.read_text()
    assert '{{- if eq $sealer.scope "cluster-wide" }}' in text
    helpers.write_text(text.replace('{{- if eq $sealer.scope "cluster-wide" }}', "{{- if true }}"))


def deployment_reading_another_secret(repo: Path) -> None:
    deployment = repo / "deploy/engine/templates/deployment.yaml"
    text = deployment.read_text()
    assert '{{ include "engine.apiKeySecretName" . }}' in text
    deployment.write_text(text.replace('{{ include "engine.apiKeySecretName" . }}', "other-key"))


@pytest.mark.parametrize("attack", [helpers_moving_the_sealed_secret, deployment_reading_another_secret])
def test_an_edit_of_a_vendored_sealer_chart_fails(vendored: Path, attack: Any) -> None:
    code, findings = reviewed_after(vendored, attack)
    assert code == 1 and unrendered(findings), findings


def application_deployment_changed(repo: Path) -> None:
    write(repo, f"{CHART}/templates/deployment.yaml", deployment("      serviceAccountName: app\n"))
    write(repo, f"{CHART}/values.yaml", "replicaCount: 2\n")


def unrelated_secret_of_its_own(repo: Path) -> None:
    write(
        repo,
        f"{CHART}/templates/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-password\n"
        "  namespace: {{ .Release.Namespace }}\n"
        '  labels: {app: {{ include "app.name" . }}}\n'
        "stringData:\n  password: {{ .Values.db.password | quote }}\n",
    )


def settings_of_fixed_entries(repo: Path) -> None:
    write(
        repo,
        f"{CHART}/templates/settings.yaml",
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "app.fullname" . }}\n'
        "data:\n  level: {{ .Values.level | quote }}\n",
    )


def application_deploying_the_chart(repo: Path) -> None:
    write(repo, "argocd/app.yaml", app_of("{replicaCount: 2, image: app:1.2}"))


def application_set_deploying_the_chart_per_environment(repo: Path) -> None:
    """Placeholders outside what it passes Helm (names, namespaces) build no value."""
    write(repo, "argocd/apps.yaml", application_set_of("          valuesObject: {replicaCount: 2}\n"))


HELPERS = """{{- define "app.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- define "app.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "app.selectorLabels" . }}
{{- end }}
{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
{{- end }}
"""


def chart_released_with_helm_s_own_helpers(repo: Path) -> None:
    """A new version, and the helpers `helm create` writes (names made by printf, labels)."""
    write(repo, f"{CHART}/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.2.0\n")
    write(repo, f"{CHART}/templates/_helpers.tpl", HELPERS)


def release_of_a_chart_with_a_release_named_secret(repo: Path) -> None:
    """main's chart makes `<release>-db` and `<release>-config`, which no managed name fits; its
    application's image tag is bumped."""
    db = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n"
        "  namespace: {{ .Release.Namespace }}\nstringData:\n  user: {{ .Values.db.user | quote }}\n"
    )
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
    files = {f"{CHART}/templates/db.yaml": db, f"{CHART}/templates/config.yaml": config}
    on_main(repo, {**files, "argocd/app.yaml": app_of("{image: app:1.2}")})
    write(repo, "argocd/app.yaml", app_of("{image: app:1.3}"))


PASSING = [
    release_of_a_chart_with_a_release_named_secret,
    chart_released_with_helm_s_own_helpers,
    application_deployment_changed,
    unrelated_secret_of_its_own,
    settings_of_fixed_entries,
    application_deploying_the_chart,
    application_set_deploying_the_chart_per_environment,
]


@pytest.mark.parametrize("change", PASSING, ids=[c.__name__ for c in PASSING])
def test_an_application_chart_reading_the_secret_passes(repo: Path, change: Any) -> None:
    """Its Deployment names staging's Secret only to read it; its own Secret and ConfigMap are
    named otherwise (or their entries fixed)."""
    code, findings = reviewed_after(repo, change)
    assert code == 0 and not findings, findings


@pytest.mark.parametrize(
    ("name", "from_parts"),
    [
        ("{{ .Values.settings.name }}", False),  # the values name it whole: they are judged
        ('"{{ .Values.settings.name | quote }}"', False),
        ("{{ .Values.settings.prefix }}-key-registry", True),  # values naming a part of it
        ("{{ .Release.Name }}-registry", True),
        ("{{ .Release.Name }}-{{ .Release.Namespace }}", True),  # engine-api-key, say
        ("{{ .Release.Name }}-db", False),  # a release's name holds no `#`: no managed name fits
        ('"{{ .Release.Namespace }}.{{ .Release.Name }}-config"', False),
        ("{{ .Values.app }}-db", True),  # a value `engine-api-key #` makes the rest a comment
        ('{{ include "app.fullname" . }}', True),
    ],
)
def test_a_chart_renders_from_parts_what_values_do_not_name_whole(name: str, from_parts: bool) -> None:
    """What an application deploying the chart fails for: a registry whose name is more than one
    values entry given whole (which review judges wherever the application passes values)."""
    from sealer.review import charts

    template = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {{{{ .Values.k }}}}: x\n"
    )
    targets, registries = [("staging", "engine-api-key")], [("staging", "engine-api-key-registry")]
    path = "deploy/x/templates/registry.yaml"
    assert charts.renders_managed(template.encode(), targets, registries, path)
    assert charts.renders_from_parts(template.encode(), targets, registries, path) == from_parts


def test_a_chart_folder_of_many_templates_is_judged_at_once() -> None:
    """An application's `path: {{a}}{{a}}…Z`: a regex of one `.*` per template tried every split
    of each chart's folder (seconds at 12, hours at 20: the review hung). Its literal parts, in
    order, decide it."""
    import time

    from sealer.review import charts

    files = ["deploy/engine-api-keys/Chart.yaml", "deploy/web/Chart.yaml", "README.md"]
    start = time.monotonic()
    assert charts.charts_named(["{{a}}" * 12 + "Z"], files) == []
    assert charts.charts_named(["{{a}}" * 12 + "s", "/deploy/${app}"], files) == [
        "deploy/engine-api-keys",
        "deploy/web",
    ]
    assert charts.charts_named(["deploy/{{a}}-api-{{b}}/"], files) == ["deploy/engine-api-keys"]
    assert time.monotonic() - start < 1


def test_a_chart_folder_of_a_nested_flux_default_names_every_chart_it_fits() -> None:
    """`charts/${app:=${x}}` is one variable to Flux's envsubst (its default another one): read as
    `${app:=${x}` and a literal `}`, it named no chart, and the chart it deploys went unjudged."""
    from sealer.review import charts

    files = ["charts/keys/Chart.yaml", "charts/keys/templates/s.yaml"]
    assert charts.charts_named(["charts/${app:=${x}}"], files) == ["charts/keys"]
    assert charts.charts_named(["./charts/${app:-${x}}/"], files) == ["charts/keys"]


TRIMMED = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{after}\nstringData:\n  k: v\n"


@pytest.mark.parametrize(
    ("name", "after", "renders"),
    [
        ("engine-api-k", '  {{- "ey" }}', True),  # Helm prints `name: engine-api-key`
        ("", '  {{- " engine-api-k" }}{{ "ey" }}', True),
        ("engine-api-k", "  {{- if true }}\n\n  {{- .Values.tail }}\n  {{- end }}", True),
        ("engine-api-k", "  {{- if true -}}\n  ey\n  {{- end }}", True),
        ("{{ .Release.Name }}-api-k", "  {{- .Values.tail }}", True),
        # what ordinary charts write after a name: nothing printed, or a line of its own
        ("my-db", "  {{- with .Values.ann }}\n  annotations:\n    {{- toYaml . | nindent 4 }}\n{END}", False),
        ("my-db", '  labels:\n    {{- include "app.labels" . | nindent 4 }}\n  {{- $x := 1 }}', False),
    ],
)
def test_a_line_of_actions_trimming_the_line_break_ends_the_name_above(
    name: str, after: str, renders: bool
) -> None:
    """A line of actions only is left out of what review reads, but `{{- ` trims the line break
    before it: what it prints ends the name above it, which read `engine-api-k` and passed."""
    from sealer.review import charts

    after = after.replace("{END}", "  {{- end }}")
    template = TRIMMED.format(name=name, after=after).replace("name: \n", "name:\n").encode()
    targets, registries = [("staging", "engine-api-key")], [("staging", "engine-api-key-registry")]
    path = "deploy/x/templates/secret.yaml"
    assert charts.renders_managed(template, targets, registries, path) == renders
    assert charts.renders_from_parts(template, targets, registries, path) == renders
