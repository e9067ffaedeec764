"""An HTTPS server on 127.0.0.1 that serves a controller certificate the way a hostile or
broken one might too, with a test CA of its own (trusted through SSL_CERT_FILE)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

BIG = 100 * 1024  # more than sealer reads of a certificate response


@dataclass
class TestCA:
    ca_file: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(folder: Path) -> TestCA:
    """A CA and a server certificate it signed for the IP address 127.0.0.1."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, server_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("sealer test CA"))
        .issuer_name(_name("sealer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # Python 3.13's default context verifies strictly (VERIFY_X509_STRICT): key identifiers too.
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


class CertServer:
    """Routes: /cert.pem (the certificate), /redirect-to-http, /huge (no length, too long),
    /huge-declared (a too large Content-Length), /stall (headers, then nothing until stop),
    /not-found, /garbage (not a certificate)."""

    def __init__(self, ca: TestCA, cert_pem: bytes) -> None:
        self.cert_pem = cert_pem
        self.requests: list[str] = []
        self.release = threading.Event()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca.server_cert, ca.server_key)
        self._server = _TLSServer(("127.0.0.1", 0), _handler_for(self), context)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


class _TLSServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client refusing our certificate is part of the tests, not news

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # The handshake happens in the request's own thread, so a stuck client blocks no one.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


def _handler_for(server: CertServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            server.requests.append(self.path)
            route = getattr(self, "route_" + self.path.strip("/").replace("-", "_").replace(".", "_"), None)
            (route or self.route_not_found)()

        def reply(self, status: int, body: bytes, **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def route_cert_pem(self) -> None:
            self.reply(200, server.cert_pem)

        def route_garbage(self) -> None:
            self.reply(200, b"<html>hello</html>")

        def route_not_found(self) -> None:
            self.reply(404, b"no such thing")

        def route_redirect_to_http(self) -> None:
            host, port = self.server.server_address[:2]
            self.reply(302, b"", Location=f"http://{host}:{port}/cert.pem")

        def route_huge(self) -> None:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"A" * BIG)
            self.close_connection = True

        def route_huge_declared(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(BIG * 1000))
            self.end_headers()
            self.close_connection = True

        def route_stall(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"-----BEGIN")
            self.wfile.flush()
            server.release.wait()  # until the server stops: the client must give up first
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
