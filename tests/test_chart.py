"""The engine chart through the real Helm engine: sealed values in, the right objects out."""

from __future__ import annotations

import base64
import copy
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.chart import (
    CHART_DIR,
    ENTRY,
    SECRET_NAME,
    Environment,
    chart_schema,
    checksum,
    container_env,
    crd_schema,
    key_metadata,
    kinds,
    only,
    parse_manifests,
    sealer_values,
    values_file,
)

from sealer import apikey, hybrid
from sealer.errors import DecryptError
from sealer.scope import Scope
from sealer.unseal import load_private_keys, unseal

helm_python = pytest.importorskip("helm_python")

# environment -> (namespace, scope, release name); no release is named like the Secret
ENVIRONMENTS = {
    "dev": ("engine-dev", Scope.CLUSTER_WIDE, "tenx-dev"),
    "staging": ("staging", Scope.NAMESPACE_WIDE, "engine-staging"),
    "production": ("prod", Scope.STRICT, "engine"),
}
SCOPE_ANNOTATIONS = {
    Scope.STRICT: {},
    Scope.NAMESPACE_WIDE: {"sealedsecrets.bitnami.com/namespace-wide": "true"},
    Scope.CLUSTER_WIDE: {"sealedsecrets.bitnami.com/cluster-wide": "true"},
}
Values = dict[str, Any]


@pytest.fixture(scope="session")
def chart() -> Iterator[Any]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def environments(keypair_2048_dir: Path, keypair_dir: Path, keypair_3072_dir: Path) -> dict[str, Environment]:
    """A sample GitOps repo's three environments, each with its own controller keypair."""
    pairs = {"dev": keypair_2048_dir, "staging": keypair_dir, "production": keypair_3072_dir}
    result = {}
    for name, (namespace, scope, release) in ENVIRONMENTS.items():
        key = apikey.generate(name)
        subtree = sealer_values(pairs[name] / "tls.crt", name, scope, namespace, key)
        key_file = pairs[name] / "tls.key"
        result[name] = Environment(name, namespace, scope, release, key, key_file, values_file(subtree))
    return result


def render(chart: Any, values: Values, release: str, namespace: str) -> list[Values]:
    return parse_manifests(chart.render(values, name=release, namespace=namespace))


def render_env(chart: Any, env: Environment, **overrides: Any) -> list[Values]:
    return render(chart, {**env.values, **overrides}, env.release, env.namespace)


def render_error(chart: Any, values: Values, namespace: str) -> str:
    with pytest.raises(helm_python.HelmError) as caught:
        chart.render(values, name="rel", namespace=namespace)
    return str(caught.value)


def secret_ref(docs: list[Values], env_name: str = "API_KEY") -> Values:
    ref: Values = container_env(docs)[env_name]["valueFrom"]["secretKeyRef"]
    return ref


# --- lint ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["defaults", *ENVIRONMENTS])
def test_lint_is_clean(environments: dict[str, Environment], env_name: str) -> None:
    env = environments.get(env_name)
    values, namespace = (env.values, env.namespace) if env else (None, None)
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=namespace)
    assert report["messages"] == [] and report["errors"] == []


@pytest.mark.slow
def test_lint_reports_a_plaintext_key(environments: dict[str, Environment]) -> None:
    env = environments["staging"]
    values = env.values
    values["sealer"]["encryptedData"][ENTRY] = env.api_key
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=env.namespace)
    assert any("/sealer/encryptedData/apiKey" in m["error"] for m in report["messages"])


# --- the SealedSecret is exactly what was sealed ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_sealed_secret_carries_the_sealed_values(
    chart: Any, environments: dict[str, Environment], env_name: str
) -> None:
    env = environments[env_name]
    sealed = env.values["sealer"]
    doc = only(render_env(chart, env), "SealedSecret")
    meta, template = doc["metadata"], doc["spec"]["template"]
    assert env.release != SECRET_NAME
    assert (meta["name"], meta["namespace"]) == (SECRET_NAME, env.namespace)
    assert meta["annotations"] == {
        **SCOPE_ANNOTATIONS[env.scope],
        "sealer.dev/cert-sha256": sealed["certFingerprint"],
    }
    assert doc["spec"]["encryptedData"] == sealed["encryptedData"]
    assert template["type"] == "Opaque"
    assert (template["metadata"]["name"], template["metadata"]["namespace"]) == (SECRET_NAME, env.namespace)
    assert template["metadata"].get("annotations", {}) == SCOPE_ANNOTATIONS[env.scope]


@pytest.mark.slow
@pytest.mark.parametrize(
    "release", ["a", "engine-api-key-2", "a-much-longer-release-name-for-the-10x-engine"]
)
def test_sealed_secret_name_does_not_follow_the_release(
    chart: Any, environments: dict[str, Environment], release: str
) -> None:
    env = environments["production"]
    docs = render(chart, env.values, release, env.namespace)
    assert only(docs, "SealedSecret")["metadata"]["name"] == SECRET_NAME
    assert secret_ref(docs)["name"] == SECRET_NAME


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_rendered_sealed_secret_unseals_to_the_key(
    chart: Any, environments: dict[str, Environment], env_name: str
) -> None:
    env = environments[env_name]
    doc = only(render_env(chart, env), "SealedSecret")
    opened = unseal(doc, load_private_keys(env.key_file), "rendered SealedSecret")
    assert opened.data == {ENTRY: env.api_key.encode()}
    other = environments["dev" if env_name == "staging" else "staging"]
    with pytest.raises(DecryptError):
        unseal(doc, load_private_keys(other.key_file), "rendered SealedSecret")


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_no_plaintext_key_in_values_or_render(
    chart: Any, environments: dict[str, Environment], env_name: str
) -> None:
    env = environments[env_name]
    rendered = chart.render(env.values, name=env.release, namespace=env.namespace)
    assert env.api_key not in env.values_yaml
    assert all(env.api_key not in text for text in rendered.values())


# --- the CRD and Kubernetes schemas ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_sealed_secret_matches_the_crd_schema(
    chart: Any, environments: dict[str, Environment], env_name: str
) -> None:
    validator = jsonschema.Draft7Validator(crd_schema())
    doc = only(render_env(chart, environments[env_name]), "SealedSecret")
    validator.validate(doc)
    broken = copy.deepcopy(doc)
    broken["spec"]["encryptedData"] = [broken["spec"]["encryptedData"]]
    assert not validator.is_valid(broken)


def full_options() -> Values:
    """Every option a user is likely to set, so each template branch gets validated."""
    partner_key = {"secretKeyRef": {"name": "partner", "key": "key"}}
    spread = {
        "weight": 100,
        "podAffinityTerm": {
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {"tier": "backend"}},
        },
    }
    return {
        "image": {
            "repository": "tenx/engine",
            "tag": "1.2.3",
            "pullPolicy": "Always",
            "digest": "sha256:" + "ab" * 32,
        },
        "imagePullSecrets": [{"name": "pull-secret"}],
        "serviceAccount": {"create": True, "name": "engine-sa", "annotations": {"team": "core"}},
        "extraEnv": [
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "PARTNER_API_KEY", "valueFrom": partner_key},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi", "cpu": 1},
        },
        "service": {"enabled": True, "type": "NodePort", "port": 8443, "annotations": {"a": "b"}},
        "podAnnotations": {"team": "core"},
        "podLabels": {"tier": "backend"},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "engine", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [spread]}},
    }


WORKLOADS = {
    **{name: (name, {}) for name in ENVIRONMENTS},
    "staging-all-options": ("staging", full_options()),
    "dev-existing-secret": ("dev", {"existingSecret": "legacy"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", WORKLOADS)
def test_workload_objects_are_valid_kubernetes(
    chart: Any, environments: dict[str, Environment], case: str
) -> None:
    import kubernetes_validate

    env_name, options = WORKLOADS[case]
    version = kubernetes_validate.utils.latest_version()
    docs = render_env(chart, environments[env_name], **options)
    workload = [doc for doc in docs if doc["kind"] != "SealedSecret"]
    assert kinds(workload) == ["Deployment", "Service", "ServiceAccount"]
    for doc in workload:
        kubernetes_validate.validate(doc, version, strict=True)


# --- the Deployment -------------------------------------------------------------------------------


@pytest.mark.slow
def test_api_key_reaches_the_container_through_secret_key_ref(
    chart: Any, environments: dict[str, Environment]
) -> None:
    env = environments["staging"]
    variables = container_env(render_env(chart, env))
    assert variables["API_KEY"] == {
        "name": "API_KEY",
        "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": ENTRY}},
    }
    assert variables["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}

    values = env.values
    values["sealer"]["encryptedData"]["engineKey"] = values["sealer"]["encryptedData"][ENTRY]
    values["apiKey"] = {"envName": "TENX_KEY", "secretKey": "engineKey"}
    docs = render(chart, values, env.release, env.namespace)
    assert secret_ref(docs, "TENX_KEY") == {"name": SECRET_NAME, "key": "engineKey"}
    assert "API_KEY" not in container_env(docs)


@pytest.mark.slow
def test_checksum_annotation_follows_sealer_checksum(
    chart: Any, environments: dict[str, Environment]
) -> None:
    env = environments["production"]

    def annotations(values: Values) -> dict[str, str]:
        deployment = only(render(chart, values, env.release, env.namespace), "Deployment")
        found: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return found

    before, after = env.values, env.values
    new_key = apikey.generate("production")
    rotated = {ENTRY: key_metadata(new_key, "2027-02-25T02:00:00Z", "2027-05-26T02:00:00Z")}
    after["sealer"].update(keys=rotated, checksum=checksum(rotated))
    assert before["sealer"]["checksum"] != after["sealer"]["checksum"]
    assert annotations(before) == {"checksum/api-key": before["sealer"]["checksum"]}
    assert annotations(after) == {"checksum/api-key": after["sealer"]["checksum"]}
    after["podAnnotations"] = {"checksum/api-key": "0" * 64, "team": "core"}
    assert annotations(after) == {"checksum/api-key": after["sealer"]["checksum"], "team": "core"}


@pytest.mark.slow
def test_defaults_run_tenx_engine_as_non_root(chart: Any, environments: dict[str, Environment]) -> None:
    docs = render_env(chart, environments["dev"])
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == f"tenx/engine:{chart.metadata['appVersion']}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]


@pytest.mark.slow
def test_service_is_optional(chart: Any, environments: dict[str, Environment]) -> None:
    env = environments["dev"]
    assert "Service" in kinds(render_env(chart, env))
    assert "Service" not in kinds(render_env(chart, env, service={"enabled": False}))


@pytest.mark.slow
@pytest.mark.parametrize("with_sealer_values", [False, True])
def test_existing_secret_replaces_the_sealed_secret(
    chart: Any, environments: dict[str, Environment], with_sealer_values: bool
) -> None:
    env = environments["staging"]
    values = env.values if with_sealer_values else {}
    docs = render(chart, {**values, "existingSecret": "engine-legacy"}, "rel", env.namespace)
    assert "SealedSecret" not in kinds(docs)
    assert secret_ref(docs) == {"name": "engine-legacy", "key": ENTRY}


# --- failures with a clear message ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["staging", "production"])
def test_namespace_mismatch_fails_for_namespace_bound_scopes(
    chart: Any, environments: dict[str, Environment], env_name: str
) -> None:
    env = environments[env_name]
    message = render_error(chart, env.values, "elsewhere")
    assert f'sealer.namespace is "{env.namespace}" but the release namespace is "elsewhere"' in message
    assert f"install with --namespace {env.namespace}" in message


@pytest.mark.slow
def test_cluster_wide_secret_follows_the_release_namespace(
    chart: Any, environments: dict[str, Environment]
) -> None:
    env = environments["dev"]
    docs = render(chart, env.values, env.release, "elsewhere")
    doc = only(docs, "SealedSecret")
    assert doc["metadata"]["namespace"] == doc["spec"]["template"]["metadata"]["namespace"] == "elsewhere"
    assert only(docs, "Deployment")["metadata"]["namespace"] == "elsewhere"
    assert unseal(doc, load_private_keys(env.key_file), "rendered").data == {ENTRY: env.api_key.encode()}


def _no_source(values: Values) -> None:
    del values["sealer"]


def _missing_entry(values: Values) -> None:
    values["apiKey"] = {"envName": "API_KEY", "secretKey": "token"}


def _env_clash(values: Values) -> None:
    values["extraEnv"] = [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}}}]


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, expected",
    [
        (
            _no_source,
            "no API key source: set the sealer values (written by `sealer render ENV`) or existingSecret",
        ),
        (_missing_entry, 'sealer.encryptedData has no entry "token" (apiKey.secretKey)'),
        (_env_clash, "extraEnv sets API_KEY, which the chart fills from the Secret"),
    ],
    ids=["no-source", "missing-entry", "env-clash"],
)
def test_inconsistent_values_fail_clearly(
    chart: Any, environments: dict[str, Environment], change: Callable[[Values], None], expected: str
) -> None:
    env = environments["production"]
    values = env.values
    change(values)
    assert expected in render_error(chart, values, env.namespace)


# --- values.schema.json ---------------------------------------------------------------------------


def put(path: str, value: Any) -> Callable[[Values, str], None]:
    """A change putting `value` at the dotted `path`; a callable value is given the plaintext key."""

    def change(values: Values, key: str) -> None:
        *parents, last = path.split(".")
        node = values
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        item = value(key) if callable(value) else value
        if isinstance(node, list):
            node[int(last)] = item
        else:
            node[last] = item

    return change


def edit_ciphertext(edit: Callable[[str], str]) -> Callable[[Values, str], None]:
    def change(values: Values, key: str) -> None:
        data = values["sealer"]["encryptedData"]
        data[ENTRY] = edit(data[ENTRY])

    return change


def drop_checksum(values: Values, key: str) -> None:
    del values["sealer"]["checksum"]


ENCRYPTED = "/sealer/encryptedData/apiKey"
REJECTED: dict[str, tuple[Callable[[Values, str], None], str]] = {
    # a plaintext key, wherever it is put
    "plaintext-in-encrypted-data": (put("sealer.encryptedData.apiKey", lambda k: k), ENCRYPTED),
    "base64-plaintext": (
        put("sealer.encryptedData.apiKey", lambda k: base64.b64encode(k.encode()).decode()),
        ENCRYPTED,
    ),
    "plaintext-in-extra-env": (put("extraEnv.0.value", lambda k: k), "/extraEnv/0/value"),
    "key-inside-extra-env-value": (put("extraEnv.0.value", lambda k: f"Bearer {k}"), "/extraEnv/0/value"),
    "plaintext-under-sealer": (put("sealer.apiKey", lambda k: k), "/sealer"),
    "plaintext-anywhere": (put("engineToken", lambda k: k), "/engineToken"),
    "plaintext-in-annotation": (
        put("podAnnotations", lambda k: {"note": f"rotated {k}"}),
        "/podAnnotations/note",
    ),
    # an env var named like the API key takes no plain value
    "api-key-env-as-plain-value": (
        put("extraEnv", [{"name": "ENGINE_API_KEY", "value": "hunter2"}]),
        "/extraEnv/0/value",
    ),
    # not a kubeseal ciphertext
    "truncated-ciphertext": (edit_ciphertext(lambda c: c[:364]), ENCRYPTED),
    "unknown-prefix": (edit_ciphertext(lambda c: "AAA" + c[3:]), ENCRYPTED),
    "urlsafe-base64": (edit_ciphertext(lambda c: c[:100] + "-_" + c[102:]), ENCRYPTED),
    "bad-padding": (edit_ciphertext(lambda c: c + "AAA"), ENCRYPTED),
    "no-entries": (put("sealer.encryptedData", {}), "/sealer/encryptedData"),
    # the rest of the contract
    "unknown-sealer-field": (put("sealer.plaintext", "hello"), "/sealer"),
    "missing-checksum": (drop_checksum, "/sealer"),
    "bad-scope": (put("sealer.scope", "global"), "/sealer/scope"),
    "bad-namespace": (put("sealer.namespace", "Staging"), "/sealer/namespace"),
    "bad-fingerprint": (put("sealer.certFingerprint", "3f9c"), "/sealer/certFingerprint"),
    "bad-key-id": (put("sealer.keys.apiKey.keyId", "key-1"), "/sealer/keys/apiKey/keyId"),
    "bad-expiry": (put("sealer.keys.apiKey.expires", "next year"), "/sealer/keys/apiKey/expires"),
    # user options
    "env-value-and-value-from": (
        put("extraEnv", [{"name": "A", "value": "x", "valueFrom": {}}]),
        "/extraEnv/0",
    ),
    "env-value-not-string": (put("extraEnv.0.value", 8080), "/extraEnv/0/value"),
    "bad-pull-policy": (
        put("image", {"repository": "tenx/engine", "pullPolicy": "Sometimes"}),
        "/image/pullPolicy",
    ),
    "bad-quantity": (put("resources", {"limits": {"memory": "lots"}}), "/resources/limits/memory"),
}


def python_schema_errors(values: Values) -> set[str]:
    """Instance paths of every failure, nested ones included, spelled as Helm prints them."""
    found: set[str] = set()
    pending = list(jsonschema.Draft7Validator(chart_schema()).iter_errors(values))
    while pending:
        error = pending.pop()
        found.add("/" + "/".join(str(part) for part in error.absolute_path))
        pending.extend(error.context or [])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", REJECTED)
def test_schema_rejects(chart: Any, environments: dict[str, Environment], case: str) -> None:
    change, where = REJECTED[case]
    env = environments["staging"]
    values = env.values
    change(values, env.api_key)
    with pytest.raises(helm_python.HelmValuesError) as caught:
        chart.render(values, name=env.release, namespace=env.namespace)
    message = str(caught.value)
    assert f"at '{where}'" in message
    assert env.api_key not in message, "a schema error must not echo a plaintext key"
    assert where in python_schema_errors(values), "the schema must mean the same to Python's jsonschema"


@pytest.mark.slow
@pytest.mark.parametrize("wrapped_len", [128, 255, 256, 300, 384, 512, 640, 768, 896, 1024, 1152, 2048])
def test_ciphertext_pattern_agrees_with_sealer(
    chart: Any, environments: dict[str, Environment], wrapped_len: int
) -> None:
    """The schema takes exactly the layouts sealer itself calls sealed (RSA 2048-8192 bits)."""
    blob = struct.pack(">H", wrapped_len) + os.urandom(wrapped_len + 16 + 43)
    values = environments["dev"].values
    values["sealer"]["encryptedData"][ENTRY] = base64.b64encode(blob).decode()
    accepted = python_schema_errors(values) == set()
    assert accepted == hybrid.looks_sealed(blob)
    if accepted:
        chart.validate_schema(values)
    else:
        with pytest.raises(helm_python.HelmValuesError, match=ENCRYPTED):
            chart.validate_schema(values)


def _partner_key_from_secret(values: Values) -> None:
    values["extraEnv"] = [
        {"name": "PARTNER_API_KEY", "valueFrom": {"secretKeyRef": {"name": "p", "key": "k"}}}
    ]


def _existing_secret_only(values: Values) -> None:
    del values["sealer"]
    values["existingSecret"] = "engine-legacy"


ACCEPTED: dict[str, Callable[[Values], None]] = {
    "sealed-values": lambda values: None,
    "all-options": lambda values: values.update(full_options()),
    "api-key-env-from-secret": _partner_key_from_secret,
    "key-lookalike-too-short": lambda values: values.update(
        extraEnv=[{"name": "DOC", "value": "slr_dev_example"}]
    ),
    "existing-secret-only": _existing_secret_only,
    "own-registry": lambda values: values.update(
        image={"repository": "registry.example:5000/team/engine", "pullPolicy": "IfNotPresent"}
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", ACCEPTED)
def test_schema_accepts(chart: Any, environments: dict[str, Environment], case: str) -> None:
    for env in environments.values():
        values = env.values
        ACCEPTED[case](values)
        chart.validate_schema(values)
        assert python_schema_errors(values) == set()


@pytest.mark.slow
def test_chart_defaults_validate_and_name_no_registry_host(chart: Any) -> None:
    defaults = chart.values
    assert python_schema_errors(defaults) == set()
    assert defaults["image"]["repository"] == "tenx/engine"
    assert defaults["image"]["tag"] == "" and defaults["existingSecret"] == ""


@pytest.mark.slow
def test_chart_ships_as_package_data() -> None:
    from sealer import resources

    with helm_python.Chart.load(resources.chart()) as loaded:
        assert (loaded.name, loaded.version) == ("engine", "0.1.0")
        assert loaded.schema == chart_schema()
