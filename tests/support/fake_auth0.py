"""A small Auth0 tenant: the Authentication API's client-credentials grant and the Management
API v2 calls sealer makes, with Auth0's documented semantics and error shapes.

POST /oauth/token (JSON or form; client_credentials) -> {access_token, expires_in, ...}
GET/PATCH /api/v2/users/{id}    app_metadata: top-level properties merge, nested values are
                                replaced, null deletes a property, {} empties the metadata
GET/PATCH /api/v2/clients/{id}  client_metadata: same merge rules; string values of at most
                                255 characters, at most 10 properties
`fields` / `include_fields` filter what GET returns. Every answer carries x-ratelimit-limit,
-remaining and -reset; errors are {"statusCode", "error", "message", "errorCode"}.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from support.fake_http import FakeServer, Fault, Request, Response

CLIENT_METADATA_KEYS = 10
CLIENT_METADATA_VALUE = 255
# Auth0 caps a serialized user profile at 10 KB plus an "extended allowance" of about ten
# times that; past the allowance a write fails.
PROFILE_HARD_LIMIT = 10 * 1024 * 10
RATE_LIMIT = 50
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def error(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"statusCode": status, "error": REASONS.get(status, "Error"), "message": message}
    if code:
        body["errorCode"] = code
    return Response.json(status, body, headers)


@dataclass
class Token:
    scopes: frozenset[str]
    expires: float


class FakeAuth0(FakeServer):
    ALL_SCOPES = frozenset({"read:users", "update:users", "read:clients", "update:clients"})

    def __init__(self) -> None:
        super().__init__()
        self.m2m: dict[str, tuple[str, frozenset[str]]] = {}  # client_id -> (secret, scopes)
        self.tokens: dict[str, Token] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.retry_after = "1"  # what a 429 asks for; "" sends no Retry-After header
        self.remaining = RATE_LIMIT

    # -- helpers for tests -------------------------------------------------------------------
    def add_m2m(self, scopes: frozenset[str] | None = None) -> tuple[str, str]:
        client_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        with self.lock:
            self.m2m[client_id] = (secret, scopes if scopes is not None else self.ALL_SCOPES)
        return client_id, secret

    def issue_token(self, scopes: frozenset[str] | None = None, ttl: float = 86400) -> str:
        token = "eyJ" + secrets.token_urlsafe(40)
        with self.lock:
            self.tokens[token] = Token(scopes if scopes is not None else self.ALL_SCOPES, time.time() + ttl)
        return token

    def add_user(self, app_metadata: dict[str, Any] | None = None) -> str:
        user_id = "auth0|" + secrets.token_hex(12)
        with self.lock:
            self.users[user_id] = {
                "user_id": user_id,
                "email": f"{user_id[6:14]}@example.invalid",
                "email_verified": True,
                "created_at": "2024-01-01T00:00:00.000Z",
                "updated_at": "2024-01-01T00:00:00.000Z",
                "identities": [
                    {
                        "connection": "Username-Password-Authentication",
                        "provider": "auth0",
                        "user_id": user_id[6:],
                        "isSocial": False,
                    }
                ],
                "app_metadata": dict(app_metadata or {}),
                "user_metadata": {},
            }
        return user_id

    def add_client(self, client_metadata: dict[str, str] | None = None) -> str:
        client_id = secrets.token_hex(16)
        with self.lock:
            self.clients[client_id] = {
                "client_id": client_id,
                "name": "sealer-test-app",
                "app_type": "non_interactive",
                "client_secret": secrets.token_urlsafe(32),
                "client_metadata": dict(client_metadata or {}),
            }
        return client_id

    def metadata_of(self, kind: str, ident: str) -> dict[str, Any]:
        with self.lock:
            if kind == "users":
                return copy.deepcopy(self.users[ident]["app_metadata"])
            return copy.deepcopy(self.clients[ident]["client_metadata"])

    # -- HTTP --------------------------------------------------------------------------------
    def _limit_headers(self) -> dict[str, str]:
        reset = int(time.time()) + 1
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(reset),
        }

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        with self.lock:
            self.remaining = RATE_LIMIT if response.status != 429 else 0
            response.headers = {**self._limit_headers(), **response.headers}
        return response

    def fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            headers = {**({"Retry-After": self.retry_after} if self.retry_after else {}), **fault.headers}
            return error(429, "Global limit has been reached", "too_many_requests", headers)
        return error(fault.status, "injected fault", None, fault.headers)

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if not request.path.startswith("/api/v2/"):
            return error(404, "Not Found")
        token = self._bearer(request)
        if isinstance(token, Response):
            return token
        parts = request.path.removeprefix("/api/v2/").split("/", 1)
        if len(parts) != 2 or parts[0] not in ("users", "clients"):
            return error(404, "Not Found")
        kind, ident = parts
        needed = ("read:" if request.method == "GET" else "update:") + kind
        if needed not in token.scopes:
            return error(403, f"Insufficient scope, expected any of: {needed}", "insufficient_scope")
        with self.lock:
            if request.method == "GET":
                return self._get(kind, ident, request)
            if request.method == "PATCH":
                return self._patch(kind, ident, request)
        return error(404, "Not Found")

    def _token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            form = request.json() or {}
        else:
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Response.json(
                403, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
            )
        known = self.m2m.get(str(form.get("client_id")))
        if not known or not secrets.compare_digest(known[0], str(form.get("client_secret"))):
            return Response.json(401, {"error": "access_denied", "error_description": "Unauthorized"})
        if not str(form.get("audience", "")).endswith("/api/v2/"):
            return Response.json(403, {"error": "access_denied", "error_description": "Service not found"})
        token = self.issue_token(known[1])
        return Response.json(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 86400,
                "scope": " ".join(sorted(known[1])),
            },
        )

    def _bearer(self, request: Request) -> Token | Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return error(401, "Missing authentication")
        with self.lock:
            token = self.tokens.get(header[7:])
        if token is None or token.expires < time.time():
            return error(401, "Invalid token", "invalid_token")
        return token

    def _get(self, kind: str, ident: str, request: Request) -> Response:
        obj = (self.users if kind == "users" else self.clients).get(ident)
        if obj is None:
            return self._missing(kind)
        fields = [f for f in request.query.get("fields", [""])[0].split(",") if f]
        include = request.query.get("include_fields", ["true"])[0] != "false"
        if fields:
            obj = {k: v for k, v in obj.items() if (k in fields) == include}
        return Response.json(200, obj)

    def _missing(self, kind: str) -> Response:
        if kind == "users":
            return error(404, "The user does not exist.", "inexistent_user")
        return error(404, "The client does not exist", "inexistent_client")

    def _patch(self, kind: str, ident: str, request: Request) -> Response:
        objects = self.users if kind == "users" else self.clients
        if ident not in objects:
            return self._missing(kind)
        body = request.json()
        field = "app_metadata" if kind == "users" else "client_metadata"
        if not isinstance(body, dict) or set(body) - {field, "user_metadata"}:
            return error(400, "Payload validation error: unexpected properties", "invalid_body")
        updated = copy.deepcopy(objects[ident])
        for name, patch in body.items():
            if not isinstance(patch, dict):
                message = f"Payload validation error: 'Expected type object' on property {name}"
                return error(400, message, "invalid_body")
            updated[name] = _merge(updated.get(name) or {}, patch)
        problem = self._check_client(updated) if kind == "clients" else self._check_user(updated)
        if problem:
            return error(400, problem, "invalid_body")
        updated["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        objects[ident] = updated
        return Response.json(200, updated)

    @staticmethod
    def _check_client(client: dict[str, Any]) -> str | None:
        meta = client["client_metadata"]
        if len(meta) > CLIENT_METADATA_KEYS:
            return (
                f"Payload validation error: 'Too many properties ({len(meta)}), maximum "
                f"{CLIENT_METADATA_KEYS}' on property client_metadata"
            )
        for key, value in meta.items():
            if not isinstance(value, str) or len(value) > CLIENT_METADATA_VALUE:
                return (
                    "Payload validation error: 'String is too long or not a string' on property "
                    f"client_metadata.{key}"
                )
        return None

    @staticmethod
    def _check_user(user: dict[str, Any]) -> str | None:
        if len(json.dumps(user)) > PROFILE_HARD_LIMIT:
            return "Payload validation error: user profile is too large"
        for key in user["app_metadata"]:
            if "." in key or "$" in key:
                return f"Payload validation error: invalid field name {key}"
        return None


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Auth0's metadata PATCH: top-level merge, null deletes, an empty object clears all."""
    if not patch:
        return {}
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
