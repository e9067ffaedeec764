"""sealer.kube through the real kubernetes client against the API paths of fake_kube.py."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from support.fake_http import trickling
from support.fake_kube import FakeKube, counting_exec_user, exec_runs

from sealer import certs, keypair, kube, kube_objects
from sealer.errors import BackendError, BadInput, WriteUnconfirmed

NS = "kube-system"


@pytest.fixture(scope="module")
def pems() -> list[bytes]:
    """Two controller certificates (2048-bit: quick to make)."""
    return [keypair.cert_pem(keypair.generate(bits=2048)) for _ in range(2)]


def fingerprint(pem: bytes) -> str:
    return certs.fingerprint(certs.parse_certificate(pem, "test"))


def test_cert_is_fetched_through_the_service_proxy(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes]
) -> None:
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": pems[0]})
    assert kube.fetch_controller_cert(str(kubeconfig), None) == pems[0]
    proxied = f"/api/v1/namespaces/{NS}/services/sealed-secrets-controller:http/proxy/v1/cert.pem"
    assert ("GET", proxied) in kube_server.log


def test_fallback_to_the_helm_chart_service_name(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes]
) -> None:
    kube_server.add_service(NS, "sealed-secrets", [("http", 8080)], {"/v1/cert.pem": pems[1]})
    assert kube.fetch_controller_cert(str(kubeconfig), "admin") == pems[1]
    tried = [path for _, path in kube_server.log[-3:]]
    assert tried == [
        f"/api/v1/namespaces/{NS}/services/sealed-secrets-controller",
        f"/api/v1/namespaces/{NS}/services/sealed-secrets",
        f"/api/v1/namespaces/{NS}/services/sealed-secrets:http/proxy/v1/cert.pem",
    ]


@pytest.mark.parametrize(
    ("ports", "used"),
    [([("metrics", 8081), ("http", 8080)], "metrics"), ([("", 8080)], "8080")],
    ids=["first-named-port", "unnamed-port"],
)
def test_the_first_port_of_the_service_is_used(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes], ports: list[tuple[str, int]], used: str
) -> None:
    kube_server.add_service("sealing", "controller", ports, {"/v1/cert.pem": pems[0]})
    assert kube.fetch_controller_cert(str(kubeconfig), None, "sealing", "controller") == pems[0]
    proxied = f"/api/v1/namespaces/sealing/services/controller:{used}/proxy/v1/cert.pem"
    assert kube_server.log[-1][1] == proxied


@pytest.mark.parametrize(
    ("name", "tried"),
    [
        ("sealed-secrets-controller", "tried sealed-secrets-controller, sealed-secrets"),
        ("my-controller", "tried my-controller)"),
    ],
)
def test_missing_service_names_what_was_tried(kubeconfig: Path, name: str, tried: str) -> None:
    with pytest.raises(BadInput, match=tried.replace(")", r"\)")) as err:
        kube.fetch_controller_cert(str(kubeconfig), None, NS, name)
    assert f"namespace {NS}" in str(err.value)


def test_a_service_that_serves_no_certificate(kubeconfig: Path, kube_server: FakeKube) -> None:
    not_pem = {"/v1/cert.pem": b"<html>oops</html>"}
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], not_pem)
    with pytest.raises(BadInput, match="not a PEM certificate"):
        kube.fetch_controller_cert(str(kubeconfig), None)
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {})
    with pytest.raises(BadInput, match=r"does not serve its certificate there \(404\)"):
        kube.fetch_controller_cert(str(kubeconfig), None)


def test_secret_fingerprints_only(kubeconfig: Path, kube_server: FakeKube) -> None:
    values = {"apiKey": b"slr_dev_not-a-real-key-but-secret", "extra": b"\x00\xffbinary"}
    kube_server.add_secret("payments", "engine-api-key", values)
    found = kube.read_secret_fingerprints(str(kubeconfig), None, "payments", "engine-api-key")
    assert found == {entry: hashlib.sha256(value).hexdigest() for entry, value in values.items()}
    assert "not-a-real-key" not in repr(found)


def test_missing_secret(kubeconfig: Path) -> None:
    with pytest.raises(BadInput, match="secret payments/engine-api-key not found"):
        kube.read_secret_fingerprints(str(kubeconfig), None, "payments", "engine-api-key")


def test_controller_keys_are_listed_by_label(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes]
) -> None:
    active = {kube.KEY_LABEL: "active"}
    kube_server.add_secret(NS, "sealed-secrets-keyaaaa", {"tls.crt": pems[0], "tls.key": b"k"}, active)
    kube_server.add_secret(NS, "sealed-secrets-keybbbb", {"tls.crt": pems[1], "tls.key": b"k"}, active)
    compromised = {kube.KEY_LABEL: "compromised"}
    kube_server.add_secret(NS, "sealed-secrets-keycccc", {"tls.crt": pems[1]}, compromised)
    kube_server.add_secret(NS, "unrelated", {"tls.crt": pems[1]})
    kube_server.add_secret("default", "elsewhere", {"tls.crt": pems[1]}, active)
    assert [(k.name, k.fingerprint, k.pem) for k in kube.list_controller_keys(str(kubeconfig), None)] == [
        ("sealed-secrets-keyaaaa", fingerprint(pems[0]), pems[0]),
        ("sealed-secrets-keybbbb", fingerprint(pems[1]), pems[1]),
    ]


def test_unauthorized_and_forbidden(kubeconfig: Path, kube_server: FakeKube, pems: list[bytes]) -> None:
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": pems[0]})
    kube_server.add_secret(NS, "s", {"a": b"b"})
    with pytest.raises(BackendError, match=r"rejected the credentials \(401\)") as err:
        kube.fetch_controller_cert(str(kubeconfig), "stranger")
    assert "not-a-token" not in str(err.value)
    assert kube.fetch_controller_cert(str(kubeconfig), "viewer") == pems[0]
    forbidden = 'forbidden while reading secret kube-system/s: secrets "s" is forbidden'
    with pytest.raises(BackendError, match=forbidden):
        kube.read_secret_fingerprints(str(kubeconfig), "viewer", NS, "s")
    with pytest.raises(BackendError, match="forbidden while listing sealing keys"):
        kube.list_controller_keys(str(kubeconfig), "viewer")


@pytest.mark.parametrize(
    ("match", "read"),
    [
        ("/proxy/v1/cert.pem", lambda config: kube.fetch_controller_cert(config, None)),
        ("/secrets/s", lambda config: kube.read_secret_fingerprints(config, None, NS, "s")),
        ("/secrets", lambda config: kube.list_controller_keys(config, None)),
    ],
    ids=["cert-fetch", "status-secret", "cert-fetch-keys"],
)
def test_an_api_server_trickling_its_answer_is_cut_off(
    kubeconfig: Path,
    kube_server: FakeKube,
    pems: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    match: str,
    read: Any,
) -> None:
    """`cert fetch` and `status` read within the one request bound, as the registry's reads do:
    the client's timeout bounds each wait for a byte only, so a byte every few seconds held them."""
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": pems[0]})
    kube_server.add_secret(NS, "s", {"tls.crt": pems[0]}, {kube.KEY_LABEL: "active"})
    with trickling(kube_server, monkeypatch, match, "GET", kube_server.handle):
        with pytest.raises(BackendError, match=r"did not answer within 0\.5 seconds while"):
            read(str(kubeconfig))


def test_a_controller_certificate_past_its_bound_is_not_read(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes]
) -> None:
    """What the service proxy serves is a certificate of a few KiB: a larger answer (an endless
    one) is refused after 64 KiB, never read into memory whole."""
    big = pems[0] + b"#" * (kube.MAX_CERT_BYTES + 1)
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": big})
    with pytest.raises(
        BadInput,
        match=r"kube-system/sealed-secrets-controller:http/v1/cert.pem: the answer "
        r"is larger than 64 KiB",
    ):
        kube.fetch_controller_cert(str(kubeconfig), None)


def test_server_errors(kubeconfig: Path, kube_server: FakeKube) -> None:
    kube_server.fail_next(503)
    with pytest.raises(BackendError, match=r"failed \(503 injected fault\)"):
        kube.read_secret_fingerprints(str(kubeconfig), None, NS, "s")


@pytest.mark.parametrize("server", ['""', "api.example:6443"])
def test_a_server_that_is_no_url_is_one_line(tmp_path: Path, kube_server: FakeKube, server: str) -> None:
    """Not urllib3's 'cannot reach' guess and a warning on stderr: what is wrong in the kubeconfig."""
    config = kube_server.kubeconfig(tmp_path).read_text().replace(kube_server.url, server)
    (tmp_path / "no-url").write_text(config)
    with pytest.raises(BadInput, match=r"the cluster's server is not an http\(s\) URL"):
        kube.fetch_controller_cert(str(tmp_path / "no-url"), None)


def kubeconfig_of(path: Path, servers: dict[str, str], user: dict[str, Any] | None = None) -> Path:
    """A kubeconfig with one context per name, reaching its server URL, as one user (a token)."""
    user = user or {"name": "u", "user": {"token": "t"}}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, url in servers.items()],
        "users": [user],
        "contexts": [{"name": n, "context": {"cluster": n, "user": user["name"]}} for n in servers],
        "current-context": next(iter(servers)),
    }
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


SPELLINGS = {  # one API server, as a kubeconfig may spell it: one server_of
    "https://api.example:6443": [
        "https://api.example:6443/",
        "HTTPS://API.Example:6443",
        "https://api.example.:6443//",
        "https://user@api.example:6443",
    ],
    "https://api.example": ["https://api.example:443", "https://API.EXAMPLE:443/"],
    "http://127.0.0.1:8080/k8s/clusters/c-1": ["http://127.0.0.1:8080/k8s/clusters/c-1/"],
    "https://[::1]": ["https://[::1]:443", "https://[0:0::1]"],
    # the resolver reads a numeric host with inet_aton's rules: each of these is 127.0.0.1
    "https://127.0.0.1:6443": [
        "https://127.1:6443",
        "https://0x7f000001:6443",
        "https://2130706433:6443/",
        "https://0177.0.0.1:6443",
        "https://0X7F.0.1:6443",
        "https://127.0.0.1.:6443",
        "https://%31%32%37.0.0.1:6443",  # urllib3 and Go's net/url decode the host
        "https://[::ffff:127.0.0.1]:6443",  # IPv4-mapped: a dual-stack socket reaches 127.0.0.1
        "https://[::ffff:7f00:1]:6443",
    ],
    "https://localhost": ["https://LocalHost.:443/", "https://%4C%6fcalhost"],
}
OTHERS = [  # another server each (or another way in): never taken for the first
    "http://api.example:6443",
    "https://api.example:6444",
    "https://api.example",
    "https://api.example:6443/k8s/clusters/c-2",
    "https://api.example:6443/K8S",
    "https://127.0.0.1",  # another port
    "https://localhost:6443",  # a name: never resolved, whatever the hosts file says
    "https://[::1]:6443",  # another address, whatever listens on both
    "https://256.0.0.1:6443",  # no address: left as written
    "https://127.0.0.2:6443",
]


@pytest.mark.parametrize("server", list(SPELLINGS))
def test_one_api_server_spelt_several_ways_is_one_server(tmp_path: Path, server: str) -> None:
    """status reads no two clusters through one API server (clusters.shared_servers): a port the
    scheme implies, a host's case, a trailing slash do not make another server of it."""
    spellings = [server, *SPELLINGS[server]]
    path = kubeconfig_of(tmp_path / "kubeconfig", {f"c{i}": url for i, url in enumerate(spellings)})
    assert {kube.server_of(str(path), f"c{i}") for i in range(len(spellings))} == {server}


def test_other_api_servers_stay_apart(tmp_path: Path) -> None:
    urls = ["https://api.example:6443", *OTHERS]
    path = kubeconfig_of(tmp_path / "kubeconfig", {f"c{i}": url for i, url in enumerate(urls)})
    assert len({kube.server_of(str(path), f"c{i}") for i in range(len(urls))}) == len(urls)


def test_server_of_runs_no_exec_credential_plugin(tmp_path: Path, kube_server: FakeKube) -> None:
    """The server is read from the kubeconfig's cluster entry: the user's exec plugin runs for
    the read alone (it may prompt, or be rate-limited), never for learning the server."""
    user = counting_exec_user(tmp_path, "admin", kube_server.admin_token)
    path = kubeconfig_of(tmp_path / "kubeconfig", {"a": kube_server.url + "/"}, user)
    assert kube.server_of(str(path), "a") == kube_server.url.rstrip("/")
    assert kube.server_of(str(path), None) == kube_server.url.rstrip("/")
    assert exec_runs(tmp_path, "admin") == 0
    kube_server.add_secret(NS, "s", {"k": b"v"})
    assert kube.read_secret_fingerprints(str(path), "a", NS, "s")  # the plugin does give the token
    assert exec_runs(tmp_path, "admin") == 1


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ("nowhere", r"has no context 'nowhere' \(it has: a\)$"),
        ("a", r"the cluster's server is not an http\(s\) URL"),
        (None, r"^kubeconfig: Invalid kube-config. \S+/empty file is empty$"),
    ],
)
def test_server_of_a_context_it_cannot_read(tmp_path: Path, context: str | None, problem: str) -> None:
    path = kubeconfig_of(tmp_path / "kubeconfig", {"a": "api.example:6443"})
    if context is None:
        path = tmp_path / "empty"
        path.write_text("")
    with pytest.raises(BadInput, match=problem):
        kube.server_of(str(path), context)


def test_unreachable_api_server(tmp_path: Path, kube_server: FakeKube) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = kube_server.kubeconfig(tmp_path).read_text().replace(f":{kube_server.port}", f":{port}")
    (tmp_path / "closed").write_text(config)
    with pytest.raises(BackendError, match=f"cannot reach http://127.0.0.1:{port}"):
        kube.fetch_controller_cert(str(tmp_path / "closed"), None)


@pytest.mark.parametrize(
    ("context", "file_name", "problem"),
    [
        (
            "nowhere",
            "kubeconfig",
            r"kubeconfig \S+/kubeconfig has no context 'nowhere' \(it has: admin, viewer, stranger\)$",
        ),
        (None, "missing", "does not exist"),
        (None, "not-yaml", "is not a valid kubeconfig file"),
    ],
)
def test_bad_kubeconfig_or_context(
    kubeconfig: Path, context: str | None, file_name: str, problem: str
) -> None:
    (kubeconfig.parent / "not-yaml").write_text("- [unbalanced\n: :\n")
    with pytest.raises(BadInput, match=problem):
        kube.fetch_controller_cert(str(kubeconfig.parent / file_name), context)


def test_a_kubeconfig_under_home_is_read_as_the_client_reads_it(
    kubeconfig: Path, kube_server: FakeKube, pems: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~/…` (sealer.yaml's `kubeconfig` option is checked expanded so) is the home folder's file,
    as the client opens it: it was looked for as a folder named `~` in the working directory."""
    monkeypatch.setenv("HOME", str(kubeconfig.parent))
    monkeypatch.chdir(kubeconfig.parent.parent)
    kube_server.add_service(NS, "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": pems[0]})
    assert kube.fetch_controller_cert(f"~/{kubeconfig.name}", None) == pems[0]
    with pytest.raises(BadInput, match="kubeconfig ~/missing does not exist"):
        kube.fetch_controller_cert("~/missing", None)


def test_no_kubeconfig_at_all(kubeconfig: Path) -> None:
    """No --kubeconfig, no $KUBECONFIG, an empty home: one clear line."""
    with pytest.raises(BadInput, match="no kubeconfig found"):
        kube.fetch_controller_cert(None, None)


@pytest.mark.parametrize(
    ("reason", "may_have_arrived"),
    [
        ("certificate refused", False),  # the handshake's: no request was sent
        ("record broken while reading the answer", True),  # after the request went out
        ("connection refused", False),
        ("dropped after sending", True),
    ],
)
def test_a_failed_write_is_of_unknown_fate_unless_no_request_can_have_gone_out(
    reason: str, may_have_arrived: bool
) -> None:
    """urllib3 wraps every TLS error as SSLError, also one raised while the answer is read: only
    a certificate refused (the handshake) proves the write was never sent."""
    import ssl

    import urllib3.exceptions as failed

    from sealer import kube_objects

    cause = {
        "certificate refused": failed.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
        "record broken while reading the answer": failed.SSLError(ssl.SSLError(1, "bad record mac")),
        "connection refused": failed.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
        "dropped after sending": failed.ProtocolError("Connection aborted.", ConnectionResetError()),
    }[reason]
    err = failed.MaxRetryError(None, "/api/v1/namespaces/x/configmaps/y", reason=cause)  # type: ignore[arg-type]
    assert kube_objects._may_have_arrived(err) is may_have_arrived


def test_an_api_servers_error_nested_past_json_is_its_reason_not_a_traceback() -> None:
    """An error body is the server's to write: one nested 100,000 deep is json's RecursionError."""
    from types import SimpleNamespace

    err = SimpleNamespace(body="[" * 100_000, reason="Forbidden")
    assert kube.status_message(err) == "Forbidden"


UNSENDABLE_TOKENS = {  # the client sends "Bearer " + the token as read, a line break and all
    "line-break": lambda token, _: {"token": f"{token}\nX-Injected: 1"},
    "token-file-ending-in-a-line-break": lambda token, file: {"tokenFile": _written(file, token + "\n")},
    "not-latin-1": lambda token, _: {"token": f"{token}\u2028"},
}


def _written(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("user", UNSENDABLE_TOKENS.values(), ids=UNSENDABLE_TOKENS.keys())
@pytest.mark.parametrize(
    "call",
    [
        lambda config: kube.fetch_controller_cert(config, None),
        lambda config: kube.read_secret_fingerprints(config, None, NS, "s"),
        lambda config: kube.list_controller_keys(config, None),
        lambda config: kube_objects.read(kube_objects.client(config, None), "Secret", NS, "s"),
        lambda config: kube_objects.create(
            kube_objects.client(config, None), "ConfigMap", NS, {"metadata": {"name": "m"}}
        ),
    ],
    ids=["cert-fetch", "status-secret", "cert-fetch-keys", "store-read", "store-write"],
)
def test_a_token_a_header_cannot_carry_is_one_line_naming_no_token(
    tmp_path: Path, kube_server: FakeKube, user: Any, call: Any
) -> None:
    """http.client refuses the header with a ValueError quoting it whole (the token), which was a
    traceback; nothing is sent, and a write so refused is no write of unknown fate."""
    kube_server.reset()
    spec = {"name": "u", "user": user(kube_server.admin_token, tmp_path / "token")}
    path = kubeconfig_of(tmp_path / "kubeconfig", {"a": kube_server.url}, spec)
    with pytest.raises(BadInput, match=r"^kubernetes: http://\S+: the credential holds a line break") as err:
        call(str(path))
    assert type(err.value) is BadInput and kube_server.admin_token not in str(err.value)
    assert kube_server.log == []


@pytest.mark.parametrize(
    "call",
    [
        lambda config: kube.read_secret_fingerprints(config, None, NS, "big"),
        lambda config: kube.list_controller_keys(config, None),
        lambda config: kube_objects.read(kube_objects.client(config, None), "Secret", NS, "big"),
    ],
    ids=["status-secret", "cert-fetch-keys", "store-read"],
)
def test_an_answer_past_its_bound_is_one_line_not_read_whole(
    kubeconfig: Path, kube_server: FakeKube, monkeypatch: pytest.MonkeyPatch, call: Any
) -> None:
    """Cut off in time only, a fast server's 100 MB Secret (a tls.crt, say) was read into memory."""
    monkeypatch.setattr(kube, "MAX_ANSWER_BYTES", 1 << 20)
    kube_server.add_secret(NS, "big", {"tls.crt": b"x" * (1 << 20)}, {kube.KEY_LABEL: "active"})
    with pytest.raises(BackendError, match=r"answered with more than 1 MiB: not read$") as err:
        call(str(kubeconfig))
    assert type(err.value) is kube.TooLarge


def test_a_write_answered_past_the_bound_is_not_confirmed(
    kubeconfig: Path, kube_server: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server answers a write with the object: past the bound, the write arrived."""
    monkeypatch.setattr(kube, "MAX_ANSWER_BYTES", 1 << 20)
    body = {"kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"registry.json": "x" * (1 << 20)}}
    with pytest.raises(WriteUnconfirmed, match="more than 1 MiB: not read: it may have been written"):
        kube_objects.create(kube_objects.client(str(kubeconfig), None), "ConfigMap", NS, body)
    assert (NS, "m") in kube_server.configmaps


def _preloading(follow: Any) -> Any:
    """`kube.follow_no_redirect`, its client then asking urllib3 to preload every answer, as
    kubernetes 29's client does (`preload_content=True`, the default; 37's does not)."""

    def wrapped(api_client: Any) -> Any:
        api_client = follow(api_client)
        manager = api_client.rest_client.pool_manager
        request = manager.request
        manager.request = lambda *args, **kwargs: request(*args, **{**kwargs, "preload_content": True})
        return api_client

    return wrapped


@pytest.mark.parametrize("size", [1000, 2 << 20], ids=["within", "past"])
def test_a_client_that_preloads_its_answers_still_reads_them_within_the_bound(
    kubeconfig: Path, kube_server: FakeKube, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """urllib3 read a preloaded answer whole before `_Bounded` saw it, which then read it again as
    empty: every answer of an older client (the README allows kubernetes 29) was no object."""
    monkeypatch.setattr(kube, "MAX_ANSWER_BYTES", 1 << 20)
    monkeypatch.setattr(kube, "follow_no_redirect", _preloading(kube.follow_no_redirect))
    kube_server.add_secret(NS, "s", {"tls.crt": b"x" * size})
    if size > kube.MAX_ANSWER_BYTES:
        with pytest.raises(kube.TooLarge, match="answered with more than 1 MiB: not read$"):
            kube.read_secret_fingerprints(str(kubeconfig), None, NS, "s")
    else:
        assert kube.read_secret_fingerprints(str(kubeconfig), None, NS, "s") == {
            "tls.crt": hashlib.sha256(b"x" * size).hexdigest()
        }
