"""A small Kubernetes API server for the calls sealer makes through the official client.

GET /api/v1/namespaces/{ns}/services/{name}
GET /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}   (service proxy)
GET /api/v1/namespaces/{ns}/secrets/{name}
GET /api/v1/namespaces/{ns}/secrets?labelSelector=k=v,k2
GET|PUT /api/v1/namespaces/{ns}/{secrets|configmaps}/{name}, POST /api/v1/namespaces/{ns}/{…}
Bearer-token auth: an unknown token gets 401, a "viewer" token 403 on secrets and on every
write; failures are v1 Status objects, as the API server sends them. Writes follow the API
server's optimistic concurrency: every stored object has a `metadata.resourceVersion` from one
counter; a PUT naming another one gets 409 Conflict, a POST of an existing name 409
AlreadyExists, a POST into a namespace that does not exist (see `namespaces`) 404.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from support.fake_http import FakeServer, Fault, Request, Response

REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def status(code: int, message: str, name: str = "", kind: str = "") -> Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown"),
        "code": code,
    }
    if name or kind:
        body["details"] = {"name": name, "kind": kind}
    return Response.json(code, body)


class FakeKube(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.admin_token = secrets.token_urlsafe(24)
        self.viewer_token = secrets.token_urlsafe(24)  # may read services, not secrets
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        # (namespace, service, port name) -> path -> body
        self.proxied: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.namespaces: set[str] | None = None  # None: every namespace exists
        self.version = 0  # the resourceVersion counter

    # -- helpers for tests -------------------------------------------------------------------
    def add_service(
        self, namespace: str, name: str, ports: list[tuple[str, int]], files: dict[str, bytes]
    ) -> None:
        """A Service whose first port serves `files` (path -> body) through the proxy."""
        with self.lock:
            self.services[(namespace, name)] = {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": {"name": name, "namespace": namespace, "uid": secrets.token_hex(8)},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": "10.96.0.10",
                    "ports": [
                        {"name": p, "port": n, "protocol": "TCP", "targetPort": n}
                        if p
                        else {"port": n, "protocol": "TCP", "targetPort": n}
                        for p, n in ports
                    ],
                },
            }
            first_name, first_port = ports[0]
            self.proxied[(namespace, name, first_name or str(first_port))] = dict(files)

    def add_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        labels: dict[str, str] | None = None,
        type_: str = "Opaque",
    ) -> None:
        with self.lock:
            self.secrets[(namespace, name)] = {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(labels or {}),
                    "uid": secrets.token_hex(8),
                },
                "type": type_,
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
            self.bump(self.secrets[(namespace, name)])

    def add_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a ConfigMap or Secret as given (as `kubectl apply` or a GitOps tool would)."""
        with self.lock:
            resource = "secrets" if obj["kind"] == "Secret" else "configmaps"
            meta = obj["metadata"]
            stored = {**obj, "metadata": {**meta, "uid": secrets.token_hex(8)}}
            self.bump(stored)
            self.store_of(resource)[(meta["namespace"], meta["name"])] = stored
            return stored

    def reset(self) -> None:
        with self.lock:
            self.services.clear()
            self.proxied.clear()
            self.secrets.clear()
            self.configmaps.clear()
            self.namespaces = None
            self.fresh()

    def kubeconfig(self, folder: Path) -> Path:
        """A kubeconfig with contexts `admin` (current), `viewer` and `stranger` (unknown token)."""
        users = {"admin": self.admin_token, "viewer": self.viewer_token, "stranger": "not-a-token"}
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: fake",
            "  cluster:",
            f"    server: {self.url}",
            "users:",
        ]
        for user, token in users.items():
            lines += [f"- name: {user}", "  user:", f"    token: {token}"]
        lines.append("contexts:")
        for user in users:
            lines += [f"- name: {user}", "  context:", "    cluster: fake", f"    user: {user}"]
        lines.append("current-context: admin")
        path = folder / "kubeconfig"
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- HTTP --------------------------------------------------------------------------------
    def fault_response(self, fault: Fault) -> Response:
        return status(fault.status, "injected fault")

    def handle(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in (self.admin_token, self.viewer_token):
            return status(401, "Unauthorized")
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5:
            return status(404, "the server could not find the requested resource")
        namespace, resource, rest = parts[3], parts[4], parts[5:]
        with self.lock:
            if request.method != "GET" or resource == "configmaps":
                return self._object(request, token, namespace, resource, rest)
            if resource == "services" and len(rest) == 1:
                return self._service(namespace, rest[0])
            if resource == "services" and len(rest) >= 2 and rest[1] == "proxy":
                return self._proxy(namespace, rest[0], "/" + "/".join(rest[2:]))
            if resource == "secrets":
                if token != self.admin_token:
                    return self._forbidden(namespace, rest[0] if rest else "", "list" if not rest else "get")
                return self._secret(namespace, rest[0]) if rest else self._list_secrets(namespace, request)
        return status(404, "the server could not find the requested resource")

    def _forbidden(self, namespace: str, name: str, verb: str, resource: str = "secrets") -> Response:
        who = 'User "system:serviceaccount:default:viewer"'
        what = f'{resource} "{name}" is forbidden' if name else f"{resource} is forbidden"
        where = f'in API group "" in the namespace "{namespace}"'
        return status(403, f'{what}: {who} cannot {verb} resource "{resource}" {where}', name, resource)

    def _service(self, namespace: str, name: str) -> Response:
        service = self.services.get((namespace, name))
        if service is None:
            return status(404, f'services "{name}" not found', name, "services")
        return Response.json(200, service)

    def _proxy(self, namespace: str, target: str, path: str) -> Response:
        pieces = target.split(":")
        if len(pieces) == 3:  # scheme:name:port
            pieces = pieces[1:]
        name, port = pieces[0], (pieces[1] if len(pieces) > 1 else "")
        service = self.services.get((namespace, name))
        if service is None:
            return status(404, f'services "{name}" not found', name, "services")
        ports = service["spec"]["ports"]
        if not port:
            port = ports[0].get("name") or str(ports[0]["port"])
        files = self.proxied.get((namespace, name, port))
        if files is None:
            return status(503, f'no endpoints available for service "{target}"', target, "services")
        body = files.get(path)
        if body is None:
            return Response(404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})
        return Response(200, body, {"Content-Type": "text/plain; charset=utf-8"})

    def _secret(self, namespace: str, name: str) -> Response:
        secret = self.secrets.get((namespace, name))
        if secret is None:
            return status(404, f'secrets "{name}" not found', name, "secrets")
        return Response.json(200, secret)

    def _list_secrets(self, namespace: str, request: Request) -> Response:
        selector = request.query.get("labelSelector", [""])[0]
        wanted = [term.split("=", 1) if "=" in term else [term, None] for term in selector.split(",") if term]
        items = []
        for (ns, _), secret in sorted(self.secrets.items()):
            labels = secret["metadata"]["labels"]
            if ns == namespace and all(k in labels and (v is None or labels[k] == v) for k, v in wanted):
                items.append(secret)
        return Response.json(
            200,
            {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items},
        )

    # -- ConfigMaps and Secrets: get, create, replace -----------------------------------------
    def bump(self, obj: dict[str, Any]) -> None:
        """A new resourceVersion for `obj` (as any write gives it)."""
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    def store_of(self, resource: str) -> dict[tuple[str, str], dict[str, Any]]:
        return self.secrets if resource == "secrets" else self.configmaps

    def _object(
        self, request: Request, token: str, namespace: str, resource: str, rest: list[str]
    ) -> Response:
        kind = {"secrets": "Secret", "configmaps": "ConfigMap"}.get(resource)
        name = rest[0] if rest else ""
        if kind is None or len(rest) > 1 or (request.method in ("GET", "PUT")) != bool(rest):
            return status(404, "the server could not find the requested resource")
        verb = {"GET": "get", "POST": "create", "PUT": "update"}.get(request.method)
        if verb is None:
            return status(405, "method not allowed")
        if token != self.admin_token and (verb != "get" or resource == "secrets"):
            return self._forbidden(namespace, name, verb, resource)
        objects = self.store_of(resource)
        if verb == "get":
            found = objects.get((namespace, name))
            return (
                Response.json(200, found)
                if found
                else status(404, f'{resource} "{name}" not found', name, resource)
            )
        return self._write(request, objects, namespace, name, kind, resource)

    def _write(
        self,
        request: Request,
        objects: dict[tuple[str, str], dict[str, Any]],
        namespace: str,
        name: str,
        kind: str,
        resource: str,
    ) -> Response:
        body = request.json()
        if (
            not isinstance(body, dict)
            or body.get("kind") != kind
            or not isinstance(body.get("metadata"), dict)
        ):
            return status(400, f"the body is not a {kind}")
        meta = body["metadata"]
        name = name or str(meta.get("name") or "")
        if meta.get("namespace", namespace) != namespace or meta.get("name") != name:
            return status(400, "the name or namespace of the body does not match the request")
        if self.namespaces is not None and namespace not in self.namespaces:
            return status(404, f'namespaces "{namespace}" not found', namespace, "namespaces")
        existing = objects.get((namespace, name))
        if request.method == "POST" and existing is not None:
            return status(409, f'{resource} "{name}" already exists', name, resource)
        if request.method == "PUT":
            if existing is None:
                return status(404, f'{resource} "{name}" not found', name, resource)
            wanted = meta.get("resourceVersion")
            if wanted and wanted != existing["metadata"]["resourceVersion"]:
                message = (
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again"
                )
                return status(409, message, name, resource)
        stored = {**body, "metadata": {**meta, "namespace": namespace, "uid": secrets.token_hex(8)}}
        if existing is not None:
            stored["metadata"]["uid"] = existing["metadata"]["uid"]
        self.bump(stored)
        objects[(namespace, name)] = stored
        return Response.json(201 if request.method == "POST" else 200, stored)


def counting_exec_user(folder: Path, name: str, token: str) -> dict[str, Any]:
    """A kubeconfig user whose token comes from an exec credential plugin: a script that adds a
    line to `folder/<name>.runs` each time it runs (`exec_runs`), then prints the token."""
    script = folder / f"{name}-credential"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}
    output = json.dumps({**credential, "status": {"token": token}})
    script.write_text(f"#!/bin/sh\necho run >> '{folder / f'{name}.runs'}'\necho '{output}'\n")
    script.chmod(0o700)
    exec_config = {"apiVersion": credential["apiVersion"], "command": str(script), "interactiveMode": "Never"}
    return {"name": name, "user": {"exec": exec_config}}


def exec_runs(folder: Path, name: str) -> int:
    """How many times `counting_exec_user(folder, name, …)`'s plugin ran."""
    runs = folder / f"{name}.runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0
