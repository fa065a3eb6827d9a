"""Issue 16 and 9: no line of the server's output, at any level, carries a
token: not a query string's (`/ws?token=`, on good and bad requests alike),
not ADMIN_TOKEN. The server runs at DEBUG with marked tokens; its whole
output is grepped after a run of requests that make Tornado and Gavel log."""
import asyncio
import secrets
import socket

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from gavel_server import Api, Socket
from helpers import next_phone, of_type

pytestmark = pytest.mark.gen_test(timeout=60)


def mark(n: int) -> str:
    return f"MARKEDSECRET{n}x{secrets.token_hex(4)}"


async def get(url: str, method: str = "GET", body: bytes | None = None, **headers) -> int:
    request = HTTPRequest(url, method=method, body=body, headers=headers, allow_nonstandard_methods=True)
    return (await AsyncHTTPClient().fetch(request, raise_error=False)).code


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        sock.settimeout(3)
        try:
            return sock.recv(4096)
        except (socket.timeout, ConnectionResetError):
            return b""


async def test_no_token_reaches_any_line_of_the_output(server_factory):
    server = server_factory("log-secrets", LOG_LEVEL="DEBUG", BODY_TIMEOUT_S=1)
    base, api = server.url, Api(server.url)
    marks = [mark(n) for n in range(14)]
    valid, _ = await api.login(next_phone())

    good = await Socket.open(server.ws_url, valid)                       # a good token in the URL
    await good.until(of_type("auth"))
    bad = await Socket.open(server.ws_url, marks[0])                     # a bad one: refused, socket kept
    assert (await bad.until(of_type("error")))["code"] == "unauthorized"
    with pytest.raises(HTTPClientError):                                 # a foreign origin with a token
        await Socket.open(server.ws_url, marks[1], origin="https://evil.example")
    statuses = [
        await get(f"{base}/api/me?token={marks[2]}", Authorization=f"token {valid}"),
        await get(f"{base}/index.html%00?token={marks[3]}"),              # a NUL in a static path
        await get(f"{base}/uploads/..%2f..%2fsecret?token={marks[4]}"),   # out of the uploads root: Tornado warns
        await get(f"{base}/api/auctions?token={marks[5]}", "DELETE"),    # 405
        await get(f"{base}/api/auth/code?token={marks[6]}", "POST", b"x", **{"Content-Type": "text/plain"}),  # 415
        await get(f"{base}/api/nothing?token={marks[7]}"),                # 404
        await get(f"{base}/ws?token={marks[8]}"),                         # not an upgrade: 400
        await get(f"{base}/api/wallet/ledger?limit=%D9%A1&token={marks[9]}", Authorization=f"token {valid}"),
        await get(f"{base}/metrics?token={marks[10]}"),
    ]
    assert statuses == [200, 404, 403, 405, 415, 404, 400, 400, 200], statuses
    # Requests Tornado refuses before any handler sees them.
    raw(server.port, f"GET /ws?token={marks[11]} HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".encode())
    raw(server.port, f"GARBAGE /?token={marks[12]}\r\n\r\n".encode())
    raw(server.port, f"POST /api/auth/code?token={marks[13]} HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{{".encode())  # body timeout
    good.close()
    bad.close()
    await asyncio.sleep(0.3)
    server.stop()

    output = (server.data_dir / "server.log").read_text(errors="replace")
    assert "DEBUG" in output and "101 GET /ws" in output and "405 DELETE /api/auctions" in output
    assert "Malformed HTTP" in output and "Timeout reading body" in output  # the refused requests were logged
    for secret in [*marks, valid, server.admin_token]:
        assert secret not in output, f"{secret} is in the output:\n" + "\n".join(
            line for line in output.splitlines() if secret in line)
