"""The demo's stand-ins: a DNS server that outlives a datagram that is no question, and
answers TXT records holding quotes and backslashes as they were given."""

from __future__ import annotations

import socket

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from opsbook.sandbox.standins import DnsServer

RECORDS = {"example.test": ['v=spf1 "quoted" \\back ~all', "$(rm -rf /); `x`"]}


def _ask(server: DnsServer, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "TXT"), "127.0.0.1", 2, server.port)


def test_garbage_is_dropped_and_answers_go_on() -> None:
    server = DnsServer(RECORDS)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for junk in (b"", b"\x00" * 3, b"\xff" * 512, bytes(range(256))):
                sender.sendto(junk, ("127.0.0.1", server.port))
        answer = _ask(server, "example.test")
        texts = sorted(b"".join(r.strings).decode() for r in answer.answer[0])
        assert texts == sorted(RECORDS["example.test"])
        assert _ask(server, "missing.test").rcode() == dns.rcode.NXDOMAIN
        assert answer.answer[0].rdtype == dns.rdatatype.TXT
    finally:
        server.close()
