"""Kubernetes API access through the official client, for clusters sealer can reach.

- the controller's sealing certificate, read like kubeseal does: through the API server's
  service proxy (`/api/v1/namespaces/NS/services/NAME:PORT/proxy/v1/cert.pem`, PORT being
  the name of the Service's first port);
- SHA-256 fingerprints of a live Secret's values (never the values);
- certificate fingerprints of the controller's active sealing keys.
Every failure is one line: BadInput for a wrong kubeconfig, context or name, BackendError for
an API server that cannot be reached or refuses us.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sealer import certs, deadline, extras, headers, terminal
from sealer.errors import BackendError, BadInput
from sealer.strictjson import TOO_DEEP

DEFAULT_NAMESPACE = "kube-system"
DEFAULT_NAME = "sealed-secrets-controller"
HELM_NAME = "sealed-secrets"  # the service name the Helm chart gives the controller
CERT_PATH = "v1/cert.pem"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
TIMEOUT_SECONDS = 15
MAX_CERT_BYTES = 64 * 1024  # a PEM certificate is a few KiB; a chain, a few more
# Any answer of the API server (an object, a list, an error): a Secret or ConfigMap is at most
# 1 MiB, the controller's sealing keys some 6 KiB each, so over 1,000 of them fit.
MAX_ANSWER_BYTES = 8 << 20


class _Missing(Exception):
    """A 404 from the API server, for callers that try several names."""


class TooLarge(BackendError):
    """An answer past MAX_ANSWER_BYTES, not read on (a write's: it arrived)."""


class _Bounded:
    """A urllib3 answer whose body, as the client reads it (`data`, all at once), is read to
    MAX_ANSWER_BYTES at most: deadline.request bounds the time, and a fast server's 100 MB
    Secret or list was read whole into memory within it. The rest is the answer's own."""

    def __init__(self, response: Any, server: str) -> None:
        self._response = response
        self._server = server
        self._body: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    @property
    def data(self) -> bytes:
        if self._body is None:
            body = bytes(self._response.read(MAX_ANSWER_BYTES + 1))
            if len(body) > MAX_ANSWER_BYTES:
                self._response.close()  # never back into the pool with the rest unread
                past = f"more than {MAX_ANSWER_BYTES >> 20} MiB"
                raise TooLarge(f"kubernetes: {self._server} answered with {past}: not read")
            self._body = body
        return self._body


def require_kubeconfig(kubeconfig: str | None) -> None:
    """Refuse (exit 2) when there is no kubeconfig to read at all: `kubeconfig`, else $KUBECONFIG's
    files, else ~/.kube/config. Several clusters read one by one would each report it as that
    cluster's error, and a run where no cluster could ever be read is bad input, not a finding."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()  # as the client opens it (and sealer.yaml's is checked)
        if not path.is_file():
            there = "is not a file" if path.exists() else "does not exist"
            raise BadInput(f"kubeconfig {kubeconfig} {there}")
        return
    named = [f for f in os.environ.get("KUBECONFIG", "").split(os.pathsep) if f]
    if not any(Path(f).expanduser().is_file() for f in named or ["~/.kube/config"]):
        raise BadInput(no_kubeconfig())


def no_kubeconfig() -> str:
    """What was looked for, in one line, and how to name one."""
    looked = (
        "no file $KUBECONFIG names exists"
        if os.environ.get("KUBECONFIG", "").strip(os.pathsep)
        else "$KUBECONFIG is not set and ~/.kube/config does not exist"
    )
    return f"no kubeconfig found: {looked}; pass --kubeconfig FILE or set KUBECONFIG"


def core_api(kubeconfig: str | None, context: str | None) -> Any:
    """A CoreV1Api for the kubeconfig (default: $KUBECONFIG or ~/.kube/config) and context."""
    extras.require("kubernetes")
    from kubernetes import client, config

    kubeconfig, where = _kubeconfig_file(kubeconfig)
    with _kubeconfig_errors(kubeconfig, where, context):
        api_client = config.new_client_from_config(
            config_file=kubeconfig, context=context, persist_config=False
        )
    _check_server(str(api_client.configuration.host or ""), where)
    return client.CoreV1Api(follow_no_redirect(api_client))


def _kubeconfig_file(kubeconfig: str | None) -> tuple[str | None, str]:
    """(the file to read, None for ~/.kube/config; how messages name it), refused when absent."""
    require_kubeconfig(kubeconfig)
    where = kubeconfig or ("$KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config")
    # The client reads $KUBECONFIG once, at import; read it now so a changed value counts.
    return kubeconfig or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None), where


@contextlib.contextmanager
def _kubeconfig_errors(kubeconfig: str | None, where: str, context: str | None) -> Iterator[None]:
    """A kubeconfig that cannot be read, or names no such context, as one line (BadInput)."""
    import yaml
    from kubernetes.config.config_exception import ConfigException

    try:
        yield
    except ConfigException as err:
        if "No configuration found" in str(err):
            raise BadInput(f"kubeconfig {where} holds no configuration: pass --kubeconfig FILE") from None
        missing_context(kubeconfig, where, context)
        raise BadInput(f"kubeconfig: {terminal.cut(str(err).splitlines()[0], 200)}") from None
    except (yaml.YAMLError, TypeError, ValueError, AttributeError, KeyError):
        raise BadInput(f"kubeconfig {where} is not a valid kubeconfig file") from None


def _check_server(host: str, where: str) -> None:
    if not is_http_url(host):  # the client would guess, then warn
        raise BadInput(f"kubeconfig {where}: the cluster's server is not an http(s) URL (https://HOST:PORT)")


def missing_context(kubeconfig: str | None, where: str, context: str | None) -> None:
    """A --context the kubeconfig does not name (a typo, the wrong file): say so and name the
    ones it has, as `kubectl config get-contexts` would, instead of the client's own words."""
    import yaml
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    if context is None:
        return
    try:
        contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
        names = [str(c["name"]) for c in contexts]
    except (ConfigException, yaml.YAMLError, TypeError, ValueError, AttributeError, KeyError):
        return  # the kubeconfig is broken otherwise: the client's message says how
    if context not in names:
        has = terminal.cut(terminal.one_line(", ".join(names)), 200) or "none"
        raise BadInput(f"kubeconfig {where} has no context {terminal.one_line(context)!r} (it has: {has})")


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host: what an API server's (or a store's) address must be."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a broken [IPv6] literal
        return False


def follow_no_redirect(api_client: Any) -> Any:
    """`api_client`, its answers read to MAX_ANSWER_BYTES at most (`_Bounded`) and its requests
    made so that a 3xx is an answer (an ApiException of that status), never followed: urllib3
    follows one to whatever host it names, re-sending a write's body (a client certificate too)
    and trusting that host's answer, so a write that landed elsewhere would read as done. A write
    is never sent twice either (`_WRITE_RETRIES`)."""
    manager = api_client.rest_client.pool_manager
    request = functools.partial(manager.request, redirect=False)
    server = str(api_client.configuration.host or "the API server")

    def sent_once(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers.refuse_unsendable(kwargs.get("headers") or {}, f"kubernetes: {server}")
        if method.upper() not in ("GET", "HEAD"):
            kwargs["retries"] = _write_retries()
        # The body is _Bounded's to read: a preloaded one (kubernetes 29's client asks for it)
        # was read whole by urllib3, then read again there as empty.
        kwargs["preload_content"] = False
        return _Bounded(request(method, url, *args, **kwargs), server)

    manager.request = sent_once
    return api_client


def _write_retries() -> Any:
    """A write is tried again only when no connection was made (nothing was sent): urllib3 would
    send it again after a dropped connection, a broken answer or a 503 with Retry-After, and the
    error the last try ends with (a refused connection, say) would hide that the first one may
    have landed. Its own failure is then the one callers judge (`kube_objects._may_have_arrived`)."""
    from urllib3.util.retry import Retry

    return Retry(
        total=Retry.DEFAULT.total,  # connection attempts: nothing sent yet
        read=False,  # sent: its error raised at once
        other=0,
        redirect=False,
        respect_retry_after_header=False,  # no status is retried without it (no status_forcelist)
    )


def redirected(server: str, status: int) -> str:
    return (
        f"kubernetes: {server} answered with a redirect ({status}), not followed: "
        "set the API server it leads to"
    )


def _server(api: Any) -> str:
    return str(getattr(api.api_client.configuration, "host", "the API server"))


def server_of(kubeconfig: str | None, context: str | None) -> str:
    """The API server URL a context reaches, spelt one way (`one_spelling`): two contexts reaching
    one server compare equal. Read from the context's cluster entry as the client reads it, with
    no client built: that would run the user's exec credential plugin, once more than the read
    of the cluster that follows needs (a plugin may prompt, or be rate-limited)."""
    extras.require("kubernetes")
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, KubeConfigMerger

    kubeconfig, where = _kubeconfig_file(kubeconfig)
    with _kubeconfig_errors(kubeconfig, where, context):
        merged = KubeConfigMerger(kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION).config
        if merged is None:  # as the client says it
            raise ConfigException("Invalid kube-config file. No configuration found.")
        entry = merged["contexts"].get_with_name(context or merged["current-context"])
        cluster = merged["clusters"].get_with_name(entry["context"]["cluster"])["cluster"]
        host = str(cluster.safe_get("server") or "").rstrip("/")
    _check_server(host, where)
    return one_spelling(host)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def one_spelling(url: str) -> str:
    """An http(s) URL as the server it reaches: the host percent-decoded (as urllib3 and Go's
    net/url read it: `%31%32%37.0.0.1` is 127.0.0.1) in lower case (an IP address in its short
    form, `_address`; no trailing dot), no port the scheme implies, no user, no trailing slash.
    The path stays: a proxy serves several clusters under one host (`/k8s/clusters/ID`)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a port: the URL as it is
        return url.rstrip("/")
    host = _address(unquote(parts.hostname or "").lower().rstrip("."))
    host = f"[{host}]" if ":" in host else host
    at = "" if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{at}{parts.path.rstrip('/')}{query}"


# An IPv4 address as inet_aton reads one: one to four parts, each decimal, octal (a leading 0)
# or hex (0x); `127.1`, `0x7f000001`, `2130706433` and `0177.0.0.1` are all 127.0.0.1.
_INET_ATON = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


def _address(host: str) -> str:
    """`host` in one spelling when it is an IP address: IPv4 as the resolver reads it (the client
    connects through getaddrinfo, which reads a numeric host with inet_aton's rules, where
    `ipaddress` takes the dotted quad alone) and IPv6 compressed, an IPv4-mapped one (`::ffff:7f00:1`,
    reaching 127.0.0.1 over a dual-stack socket) as IPv4. A name stays as it is: `localhost` is
    whatever the machine's hosts file says, and nothing is looked up."""
    import ipaddress
    import socket

    if _INET_ATON.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:  # out of range (`256.0.0.1`): no address, the client's resolver says so
            return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else address.compressed


def status_message(err: Any) -> str:
    """What an API server's error answer says: its words, so one clean line (no line break, control
    or bidirectional character) of bounded length."""
    try:
        said = str(json.loads(err.body or "{}").get("message") or err.reason)
    except (TypeError, ValueError, AttributeError, RecursionError):  # RecursionError: nested deep
        said = str(getattr(err, "reason", "") or "error")
    return terminal.clean(said) or "error"


@contextlib.contextmanager
def _api_errors(api: Any, what: str) -> Iterator[None]:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as err:
        if err.status == 404:
            raise _Missing(what) from None
        if 300 <= (err.status or 0) < 400:
            raise BackendError(redirected(_server(api), err.status)) from None
        if err.status == 401:
            raise BackendError(f"kubernetes: {_server(api)} rejected the credentials (401)") from None
        if err.status == 403:
            raise BackendError(f"kubernetes: forbidden while {what}: {status_message(err)}") from None
        raise BackendError(f"kubernetes: {what} failed ({err.status} {status_message(err)})") from None
    except urllib3.exceptions.HTTPError as err:
        raise BackendError(f"kubernetes: cannot reach {_server(api)} ({type(err).__name__})") from None
    except RecursionError:  # json's, reading an answer nested past its depth
        raise BackendError(f"kubernetes: {_server(api)} {TOO_DEEP}") from None


def _read(api: Any, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`method(*args, **kwargs)` of the API client, its failures one line each (`_api_errors`),
    within the one request bound (`deadline.request`) as the registry's reads are: the client's
    timeout bounds each wait for a byte only, so a trickling answer held `status` for hours."""
    with _api_errors(api, what):
        return deadline.request(
            f"kubernetes: {_server(api)}",
            what,
            lambda: method(*args, _request_timeout=TIMEOUT_SECONDS, **kwargs),
        )


def first_port(service: Any) -> str:
    """The name of the Service's first port (its number when unnamed), as kubeseal uses it."""
    ports = (service.spec.ports if service.spec else None) or []
    if not ports:
        raise BadInput(f"service {service.metadata.namespace}/{service.metadata.name} has no ports")
    return str(ports[0].name or ports[0].port)


def fetch_controller_cert(
    kubeconfig: str | None,
    context: str | None,
    namespace: str = DEFAULT_NAMESPACE,
    name: str = DEFAULT_NAME,
) -> bytes:
    """The controller's PEM certificate. With the default name, also tries the Helm chart's."""
    api = core_api(kubeconfig, context)
    names = [name, HELM_NAME] if name == DEFAULT_NAME else [name]
    for candidate in names:
        try:
            what = f"reading service {namespace}/{candidate}"
            service = _read(api, what, api.read_namespaced_service, candidate, namespace)
        except _Missing:
            continue
        return _proxy_cert(api, namespace, candidate, first_port(service))
    tried = ", ".join(names)
    raise BadInput(f"no Sealed Secrets controller service in namespace {namespace} (tried {tried})")


def _proxy_cert(api: Any, namespace: str, service: str, port: str) -> bytes:
    source = f"{namespace}/{service}:{port}/{CERT_PATH}"
    what = f"fetching {source} through the service proxy"
    try:
        data = _read(api, what, _cert_body, api, f"{service}:{port}", namespace)
    except _Missing:
        raise BadInput(f"{source}: the controller does not serve its certificate there (404)") from None
    if len(data) > MAX_CERT_BYTES:
        raise BadInput(f"{source}: the answer is larger than {MAX_CERT_BYTES >> 10} KiB: not a certificate")
    certs.parse_certificate(data, source)
    return data


def _cert_body(api: Any, target: str, namespace: str, **kwargs: Any) -> bytes:
    """At most MAX_CERT_BYTES + 1 of what the service proxy answers: never all an endless answer holds."""
    response = api.connect_get_namespaced_service_proxy_with_path(
        target, namespace, CERT_PATH, _preload_content=False, **kwargs
    )
    try:
        return bytes(response.read(MAX_CERT_BYTES + 1))
    finally:
        response.release_conn()


def read_secret_fingerprints(
    kubeconfig: str | None, context: str | None, namespace: str, name: str
) -> dict[str, str]:
    """{entry: hex SHA-256 of its value} of a live Secret; the values never leave this function."""
    api = core_api(kubeconfig, context)
    try:
        secret = _read(api, f"reading secret {namespace}/{name}", api.read_namespaced_secret, name, namespace)
    except _Missing:
        raise BadInput(f"secret {namespace}/{name} not found") from None
    return {entry: _sha256_of(value, entry) for entry, value in sorted((secret.data or {}).items())}


def _sha256_of(encoded: str, entry: str) -> str:
    try:
        return hashlib.sha256(base64.b64decode(encoded, validate=True)).hexdigest()
    except binascii.Error:
        raise BackendError(f"kubernetes: secret entry {entry} is not valid base64") from None


@dataclass(frozen=True)
class ControllerKey:
    """One active sealing key of the controller: its Secret's name and its certificate."""

    name: str
    fingerprint: str
    pem: bytes


def list_controller_keys(
    kubeconfig: str | None, context: str | None, namespace: str = DEFAULT_NAMESPACE
) -> list[ControllerKey]:
    """The controller's active sealing keys (the labelled key Secrets), by Secret name; only
    their certificates are read."""
    api = core_api(kubeconfig, context)
    try:
        what = f"listing sealing keys in {namespace}"
        selector = f"{KEY_LABEL}=active"
        answer = _read(api, what, api.list_namespaced_secret, namespace, label_selector=selector)
    except _Missing:
        raise BadInput(f"namespace {namespace} not found") from None
    found = []
    for secret in answer.items or []:
        source = f"secret {namespace}/{secret.metadata.name}"
        encoded = (secret.data or {}).get("tls.crt")
        if not encoded:
            raise BackendError(f"kubernetes: {source} has no tls.crt")
        try:
            pem = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise BackendError(f"kubernetes: {source} tls.crt is not valid base64") from None
        fingerprint = certs.fingerprint(certs.parse_certificate(pem, source))
        found.append(ControllerKey(secret.metadata.name, fingerprint, pem))
    return sorted(found, key=lambda k: k.name)
