"""A DynamoDB endpoint that acknowledges writes without storing them: an HTTP proxy in front of
moto that, while `dropping`, answers TransactWriteItems and PutItem with 200 `{}` (what
DynamoDB answers a committed write) and never forwards them. Every other request (reads,
DescribeTable, CreateTable) reaches moto as sent, so the store reads the real table."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from support.fake_http import FakeServer, Fault, Request, Response

DROPPED = ("DynamoDB_20120810.TransactWriteItems", "DynamoDB_20120810.PutItem")
_JSON = {"Content-Type": "application/x-amz-json-1.0"}
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


class DroppingDynamo(FakeServer):
    def __init__(self, moto_endpoint: str) -> None:
        super().__init__()
        parts = urlsplit(moto_endpoint)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.dropping = False
        self.dropped: list[str] = []  # the actions acknowledged and not stored

    def handle(self, request: Request) -> Response:
        action = request.headers.get("x-amz-target", "")
        if self.dropping and action in DROPPED:
            with self.lock:
                self.dropped.append(action.rsplit(".", 1)[-1])
            return Response.json(200, {}, _JSON)
        return self._forward(request)

    def _forward(self, request: Request) -> Response:
        connection = http.client.HTTPConnection(*self.target, timeout=10)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
            connection.request(request.method, request.path, body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            return Response(answer.status, body, kept)
        finally:
            connection.close()

    def fault_response(self, fault: Fault) -> Response:
        return Response.json(fault.status, {"__type": "InternalServerError", "message": "injected"}, _JSON)
