"""Stand-ins on 127.0.0.1 for what the sandbox's app has on the internet: a TLS endpoint
with a certificate of chosen age (made by openssl: no Python crypto library needed) and a
DNS server answering TXT questions from a table. The demo points its `tls` and
`email-dns` checks at them; the tests judge the checks against them."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def can_make_certificates() -> bool:
    """Whether openssl is here to make one (Debian's `openssl` package)."""
    return shutil.which("openssl") is not None


def make_certificate(folder: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 valid for `days`, and its key.
    Self-signed, it is its own CA: a check trusts it through `ca_file`."""
    cert, key = folder / f"cert-{days}.pem", folder / f"key-{days}.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class TlsServer:
    """Accepts TLS connections and completes the handshake: enough for an expiry check."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True, name="tls-standin")
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # shut down
            conn.settimeout(5)  # a client that never speaks holds the loop no longer
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        _shut(self.sock, self.thread)


class DnsServer:
    """A UDP DNS server answering TXT questions from `records` (name -> texts); other
    names are NXDOMAIN, and a datagram that is not a DNS question is dropped."""

    def __init__(self, records: Mapping[str, list[str]]) -> None:
        self.records = {k.rstrip(".") + ".": list(v) for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True, name="dns-standin")
        self.thread.start()

    @property
    def address(self) -> str:
        """As a dns check's `nameservers` entry names it."""
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return  # shut down
            if self.closing.is_set():
                return
            try:
                answer = self._answer(dns.message.from_wire(data))
            except (dns.exception.DNSException, IndexError, ValueError):
                continue
            self.sock.sendto(answer.to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            texts = [
                '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in self.records[name]
            ]
            response.answer.append(
                dns.rrset.from_text_list(name, 300, dns.rdataclass.IN, dns.rdatatype.TXT, texts)
            )
        return response

    def close(self) -> None:
        self.closing.set()
        _shut(self.sock, self.thread)


def _shut(sock: socket.socket, thread: threading.Thread) -> None:
    """Wake the serving thread and close its socket. close() alone does neither on Linux:
    a thread blocked in accept() or recvfrom() keeps the socket, and the port, open."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    thread.join(timeout=5)
    sock.close()
