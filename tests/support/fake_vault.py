"""A small Vault that speaks the KV v2 HTTP API hvac uses, with Vault's own error shapes.

Endpoints: GET/HEAD /v1/sys/health (no token), GET /v1/auth/token/lookup-self,
GET/POST/PUT/DELETE /v1/<mount>/data/<path> (POST takes {"options": {"cas": n}, "data": {...}}),
GET/DELETE/LIST /v1/<mount>/metadata/<path>. Errors come as {"errors": [...]}: 403 permission
denied for a missing or unknown X-Vault-Token, 404 for a missing secret, 400 "check-and-set
parameter did not match the current version" on a CAS mismatch, 503 while sealed.

Namespaces (Vault Enterprise, #17): `add_namespace(name)` creates one and returns a token valid
in it (and its children) only; a request names its namespace in the X-Vault-Namespace header.
The root token is valid everywhere. A secret at `<mount>/<path>` in namespace `ns` is the
secret `ns/<mount>/<path>` (as in Vault), so `secrets` keys it by ("ns/<mount>", path).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support.fake_http import FakeServer, Fault, Request, Response

CAS_MISMATCH = "check-and-set parameter did not match the current version"
VERSION = "1.15.6"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Version:
    data: dict[str, Any] | None
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def metadata(self, number: int) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "custom_metadata": None,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "version": number,
        }


@dataclass
class Secret:
    versions: dict[int, Version] = field(default_factory=dict)
    created_time: str = field(default_factory=_now)
    updated_time: str = field(default_factory=_now)
    cas_required: bool = False

    @property
    def current(self) -> int:
        return max(self.versions, default=0)


class FakeVault(FakeServer):
    def __init__(self, token: str | None = None, mounts: tuple[str, ...] = ("secret",)) -> None:
        super().__init__()
        self.token = token or "hvs." + secrets.token_urlsafe(18)
        self.mounts = set(mounts)
        self.sealed = False
        self.secrets: dict[tuple[str, str], Secret] = {}
        self.namespace_tokens: dict[str, str] = {}  # token -> the namespace it was created in
        self._next_write_hooks: dict[tuple[str, str], Callable[[], None]] = {}

    # -- helpers for tests -------------------------------------------------------------------
    def add_namespace(self, name: str) -> str:
        """Create namespace `name`; returns a token valid in it only (and its children)."""
        token = "hvs." + secrets.token_urlsafe(18)
        with self.lock:
            self.namespace_tokens[token] = name.strip("/")
        return token

    def _allowed(self, token: str | None, namespace: str) -> bool:
        """The root token everywhere; a namespace's token in it and below it only."""
        if token == self.token:
            return True
        with self.lock:
            home = self.namespace_tokens.get(token or "")
        return home is not None and (namespace == home or namespace.startswith(home + "/"))

    def read_direct(self, mount: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            entry = self.secrets.get((mount, path))
            if not entry or not entry.versions:
                return None
            return entry.versions[entry.current].data

    def write_direct(self, mount: str, path: str, data: dict[str, Any]) -> int:
        """Another writer's write, as if it came in over HTTP; returns the new version."""
        with self.lock:
            entry = self.secrets.setdefault((mount, path), Secret())
            number = entry.current + 1
            entry.versions[number] = Version(dict(data), _now())
            entry.updated_time = _now()
            return number

    def on_next_write(self, mount: str, path: str, hook: Callable[[], None]) -> None:
        """Run `hook` (another writer's write, direct or over HTTP) just before the next write
        to `path` is processed."""
        with self.lock:
            self._next_write_hooks[(mount, path)] = hook

    def all_paths(self) -> list[tuple[str, str]]:
        with self.lock:
            return sorted(self.secrets)

    # -- HTTP --------------------------------------------------------------------------------
    def fault_response(self, fault: Fault) -> Response:
        messages = {429: "request rate limit exceeded", 503: "Vault is sealed", 409: "conflict"}
        message = messages.get(fault.status, "injected fault")
        return Response.json(fault.status, {"errors": [message]}, fault.headers)

    def handle(self, request: Request) -> Response:
        if request.path == "/v1/sys/health":
            return self._health()
        if self.sealed:
            return Response.json(503, {"errors": ["Vault is sealed"]})
        namespace = request.headers.get("x-vault-namespace", "").strip("/")
        if namespace and namespace not in set(self.namespace_tokens.values()):
            return Response.json(404, {"errors": [f"namespace not found: {namespace!r}"]})
        if not self._allowed(request.headers.get("x-vault-token"), namespace):
            return Response.json(403, {"errors": ["permission denied"]})
        if request.path == "/v1/auth/token/lookup-self":
            return self._lookup_self()
        parts = request.path.removeprefix("/v1/").split("/", 2)
        if len(parts) == 3 and parts[0] in self.mounts and parts[1] in ("data", "metadata"):
            mount, kind, path = parts
            mount = f"{namespace}/{mount}" if namespace else mount
            method = "LIST" if request.query.get("list") == ["true"] else request.method
            if kind == "data" and method in ("POST", "PUT"):
                with self.lock:
                    hook = self._next_write_hooks.pop((mount, path), None)
                if hook:
                    hook()  # outside the lock: the hook may itself talk to this server
            with self.lock:
                if kind == "data":
                    return self._data(method, mount, path, request)
                return self._metadata(method, mount, path)
        route = request.path.removeprefix("/v1/")
        return Response.json(404, {"errors": [f'no handler for route "{route}". route entry not found.']})

    def _health(self) -> Response:
        body = {
            "initialized": True,
            "sealed": self.sealed,
            "standby": False,
            "performance_standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(dt.datetime.now(dt.timezone.utc).timestamp()),
            "version": VERSION,
            "cluster_name": "vault-cluster-test",
        }
        return Response.json(503 if self.sealed else 200, body)

    def _lookup_self(self) -> Response:
        data = {
            "accessor": "accessor-test",
            "policies": ["root"],
            "ttl": 0,
            "id": self.token,
            "type": "service",
        }
        return Response.json(200, _envelope(data))

    def _data(self, method: str, mount: str, path: str, request: Request) -> Response:
        entry = self.secrets.get((mount, path))
        if method == "GET":
            return self._read(entry, request)
        if method in ("POST", "PUT"):
            return self._write(mount, path, entry, request)
        if method == "DELETE":
            if entry and entry.versions:
                entry.versions[entry.current].deletion_time = _now()
            return Response(204)
        return Response.json(405, {"errors": ["unsupported operation"]})

    def _read(self, entry: Secret | None, request: Request) -> Response:
        if not entry or not entry.versions:
            return Response.json(404, {"errors": []})
        wanted = int(request.query.get("version", ["0"])[0]) or entry.current
        version = entry.versions.get(wanted)
        if version is None:
            return Response.json(404, {"errors": []})
        body = _envelope({"data": version.data, "metadata": version.metadata(wanted)})
        if version.deletion_time or version.destroyed:
            body["data"]["data"] = None
            return Response.json(404, body)
        return Response.json(200, body)

    def _write(self, mount: str, path: str, entry: Secret | None, request: Request) -> Response:
        payload = request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            return Response.json(400, {"errors": ["no data provided"]})
        cas = (payload.get("options") or {}).get("cas")
        current = entry.current if entry else 0
        if cas is None and entry and entry.cas_required:
            return Response.json(400, {"errors": ["check-and-set parameter required for this call"]})
        if cas is not None and int(cas) != current:
            return Response.json(400, {"errors": [CAS_MISMATCH]})
        number = self.write_direct(mount, path, payload["data"])
        entry = self.secrets[(mount, path)]
        return Response.json(200, _envelope(entry.versions[number].metadata(number)))

    def _metadata(self, method: str, mount: str, path: str) -> Response:
        if method == "LIST":
            prefix = path.rstrip("/") + "/"
            keys = sorted(
                {
                    p[len(prefix) :].split("/")[0] + ("/" if "/" in p[len(prefix) :] else "")
                    for (m, p) in self.secrets
                    if m == mount and p.startswith(prefix)
                }
            )
            if not keys:
                return Response.json(404, {"errors": []})
            return Response.json(200, _envelope({"keys": keys}))
        entry = self.secrets.get((mount, path))
        if method == "DELETE":
            self.secrets.pop((mount, path), None)
            return Response(204)
        if method != "GET":
            return Response.json(405, {"errors": ["unsupported operation"]})
        if not entry:
            return Response.json(404, {"errors": []})
        versions = {str(n): v.metadata(n) for n, v in entry.versions.items()}
        return Response.json(
            200,
            _envelope(
                {
                    "cas_required": entry.cas_required,
                    "created_time": entry.created_time,
                    "current_version": entry.current,
                    "custom_metadata": None,
                    "delete_version_after": "0s",
                    "max_versions": 0,
                    "oldest_version": min(entry.versions, default=0),
                    "updated_time": entry.updated_time,
                    "versions": versions,
                }
            ),
        )


def _envelope(data: Any) -> dict[str, Any]:
    return {
        "request_id": secrets.token_hex(8),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }
