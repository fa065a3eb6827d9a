"""Issue 16 and 9, the socket's edge: binary frames, one user per socket, a
bad token in the URL, subscriptions per socket and new sockets per client
address (an attacker and a victim at different addresses behind the
trusted loopback proxy)."""
import time

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from gavel_server import Api, Socket
from helpers import create_session, next_phone, of_type

pytestmark = pytest.mark.gen_test(timeout=60)


@pytest.fixture(scope="module")
def edge(server_factory):
    return server_factory("ws-edge", TRUSTED_PROXIES="127.0.0.1", WS_CONNECTS_PER_SECOND=2, WS_MAX_SUBSCRIPTIONS=3)


async def socket_from(server, address: str) -> Socket:
    request = HTTPRequest(server.ws_url, headers={"X-Forwarded-For": address})
    return Socket(await websocket_connect(request))


async def test_a_binary_frame_closes_the_socket_with_1003(server):
    sock = await Socket.open(server.ws_url)
    await sock.conn.write_message(b'{"op":"ping"}', binary=True)
    assert await sock.conn.read_message() is None
    assert sock.conn.close_code == 1003


async def test_a_socket_is_one_users_a_second_auth_as_another_is_a_conflict(server):
    api = Api(server.url)
    mine, me = await api.login(next_phone())
    again, _ = await api.login(me["phone"])
    theirs, _ = await api.login(next_phone())
    sock = await Socket.open(server.ws_url, mine)
    await sock.until(of_type("auth"))
    await sock.send({"op": "auth", "token": theirs, "id": "a2"})
    error = await sock.until(of_type("error"))
    assert error["code"] == "conflict" and error["id"] == "a2"
    await sock.send({"op": "auth", "token": again})  # the same user again: fine
    assert await sock.until(of_type("auth")) == {"type": "auth", "ok": True, "user_id": me["id"]}
    sock.close()


async def test_a_bad_token_in_the_url_leaves_the_socket_watching(server, admin):
    auction, (lot,) = await create_session(admin)
    sock = await Socket.open(server.ws_url, "not-a-token")
    error = await sock.until(of_type("error"))
    assert error["code"] == "unauthorized"
    await sock.send({"op": "subscribe", "lot": lot["id"]})
    assert (await sock.until(of_type("snapshot")))["lot"]["id"] == lot["id"]
    sock.close()


async def test_a_socket_watches_so_many_lots_and_sessions_at_most(edge):
    admin = Api(edge.url, edge.admin_token)
    auction, lots = await create_session(admin, lots=3)
    sock = await socket_from(edge, "192.0.2.10")
    for lot in lots:
        await sock.send({"op": "subscribe", "lot": lot["id"]})
        await sock.until(of_type("snapshot"))
    await sock.send({"op": "subscribe", "auction": auction["id"], "id": "s4"})
    error = await sock.until(of_type("error"))
    assert error["code"] == "too_large" and error["id"] == "s4"
    await sock.send({"op": "subscribe", "lot": lots[0]["id"]})  # one it watches already: fine
    await sock.until(of_type("snapshot"))
    await sock.send({"op": "unsubscribe", "lot": lots[0]["id"]})
    await sock.until(of_type("unsubscribed"))
    await sock.send({"op": "subscribe", "auction": auction["id"]})
    assert (await sock.until(of_type("subscribed")))["auction"] == auction["id"]
    sock.close()


async def test_a_flood_of_new_sockets_from_one_address_is_refused_and_others_connect(edge):
    opened, refused, started = [], 0, time.monotonic()
    for _ in range(20):
        try:
            opened.append(await socket_from(edge, "192.0.2.66"))
        except HTTPClientError as exc:
            assert exc.code == 429
            refused += 1
    allowed = 10 + 2 * (time.monotonic() - started)  # a burst of 10, then 2 a second
    assert 10 <= len(opened) <= allowed + 1 and refused == 20 - len(opened) > 0, (len(opened), allowed)
    victim = await socket_from(edge, "192.0.2.77")
    await victim.send({"op": "ping", "t": 7})
    assert (await victim.until(of_type("pong")))["t"] == 7
    for sock in [*opened, victim]:
        sock.close()
