"""ConfigMaps and Secrets through the Kubernetes API, with `resourceVersion` concurrency.

What the key registry's direct delivery and `sealer status` need: read an object, create it,
or replace it on the condition that nobody changed it since it was read (the API server
answers 409 otherwise: `Conflict`, for the caller to re-read and decide again). Credentials:
a kubeconfig, or inside a pod the service account. Every other failure is one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sealer import deadline, kube, terminal
from sealer.errors import BackendError, BadInput, WriteUnconfirmed
from sealer.strictjson import TOO_DEEP

KINDS = {"ConfigMap": "config_map", "Secret": "secret"}

T = TypeVar("T")


class Conflict(Exception):
    """409: the object changed (or appeared) since it was read."""


def client(kubeconfig: str | None, context: str | None) -> Any:
    """A CoreV1Api: the in-cluster service account inside a pod given no kubeconfig, else
    the kubeconfig (see `kube.core_api`)."""
    if not kubeconfig and not context and not os.environ.get("KUBECONFIG"):
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            from kubernetes import client as k8s
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            try:
                config.load_incluster_config()
            except ConfigException as err:
                raise BadInput(
                    f"in-cluster service account: {terminal.cut(str(err).splitlines()[0], 200)}"
                ) from None
            return k8s.CoreV1Api(kube.follow_no_redirect(k8s.ApiClient()))
    return kube.core_api(kubeconfig, context)


def _server(api: Any) -> str:
    return str(getattr(api.api_client.configuration, "host", "the API server"))


def _bounded(api: Any, what: str, call: Callable[[], T], writes: bool = False) -> T:
    """`call()` within the one request bound (`deadline.request`): a server trickling its answer
    cannot hold a command. A write cut off may still land: WriteUnconfirmed."""
    return deadline.request(f"kubernetes: {_server(api)}", what, call, writes)


@contextlib.contextmanager
def _errors(api: Any, what: str, writes: bool = False) -> Iterator[None]:
    """The API server's and the network's failures as one line each. A write that may have
    reached the API server before it failed (a 5xx, a gateway's perhaps after it stored the
    object; its answer cut off or timed out) may have been stored: a WriteUnconfirmed."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    server = _server(api)
    try:
        yield
    except ApiException as err:
        if err.status == 409:
            raise Conflict(what) from None
        if 300 <= (err.status or 0) < 400:
            raise BackendError(kube.redirected(server, err.status)) from None
        if err.status == 401:
            raise BackendError(f"kubernetes: {server} rejected the credentials (401)") from None
        if err.status == 403:
            raise BackendError(f"kubernetes: forbidden while {what}: {kube.status_message(err)}") from None
        if err.status == 404:
            raise BackendError(f"kubernetes: not found while {what}: {kube.status_message(err)}") from None
        error = WriteUnconfirmed if writes and (err.status or 0) >= 500 else BackendError
        said = f"{err.status} {kube.status_message(err)}"
        raise error(f"kubernetes: {what} failed ({said}){_fate(error)}") from None
    except urllib3.exceptions.HTTPError as err:
        error = WriteUnconfirmed if writes and _may_have_arrived(err) else BackendError
        raise error(f"kubernetes: cannot reach {server} ({type(err).__name__}){_fate(error)}") from None
    except RecursionError:  # json's, reading an answer (a write's: it arrived) nested past its depth
        error = WriteUnconfirmed if writes else BackendError
        raise error(f"kubernetes: {server} {TOO_DEEP}{_fate(error)}") from None
    except kube.TooLarge as err:  # a write's answer past the bound: it arrived
        if not writes:
            raise
        raise WriteUnconfirmed(f"{err}{_fate(WriteUnconfirmed)}") from None


def _fate(error: type[BackendError]) -> str:
    return ": it may have been written; not counted as done" if error is WriteUnconfirmed else ""


def _may_have_arrived(err: Exception) -> bool:
    """Whether a request that failed this way may have reached the API server: only a connection
    never made (refused, no such host, its certificate refused, proxy or connect timing out) sent
    nothing. Another TLS error may come while the answer is read, after the request went out."""
    import ssl

    import urllib3.exceptions as failed

    reason = err.reason if isinstance(err, failed.MaxRetryError) else err
    if isinstance(reason, failed.SSLError):  # a certificate is refused in the handshake alone
        return not any(isinstance(arg, ssl.SSLCertVerificationError) for arg in reason.args)
    # refused and unresolved are ConnectTimeoutErrors too
    return not isinstance(reason, (failed.ConnectTimeoutError, failed.ProxyError))


def read(api: Any, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as the API server returns it (plain JSON data), or None when there is none."""
    from kubernetes.client.exceptions import ApiException

    method = getattr(api, f"read_namespaced_{KINDS[kind]}")
    what = f"reading {kind} {namespace}/{name}"
    try:
        with _errors(api, what):
            try:
                found = _bounded(
                    api, what, lambda: method(name, namespace, _request_timeout=kube.TIMEOUT_SECONDS)
                )
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
    except Conflict:
        raise BackendError(f"kubernetes: reading {kind} {namespace}/{name} failed (409)") from None
    data: dict[str, Any] = api.api_client.sanitize_for_serialization(found)
    return data


def create(api: Any, kind: str, namespace: str, body: dict[str, Any]) -> None:
    """Create the object; Conflict when it exists already."""
    method = getattr(api, f"create_namespaced_{KINDS[kind]}")
    what = f"creating {kind} {namespace}/{body['metadata']['name']}"
    with _errors(api, what, writes=True):
        _bounded(api, what, lambda: method(namespace, body, _request_timeout=kube.TIMEOUT_SECONDS), True)


def replace(api: Any, kind: str, namespace: str, body: dict[str, Any]) -> None:
    """Replace the object if its `metadata.resourceVersion` in `body` is still current; else Conflict."""
    name = body["metadata"]["name"]
    method = getattr(api, f"replace_namespaced_{KINDS[kind]}")
    what = f"replacing {kind} {namespace}/{name}"
    with _errors(api, what, writes=True):
        _bounded(
            api, what, lambda: method(name, namespace, body, _request_timeout=kube.TIMEOUT_SECONDS), True
        )
