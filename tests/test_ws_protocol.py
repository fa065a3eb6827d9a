"""The socket's edges: malformed and oversized frames, rate limits, origins,
ping, and auth by first message."""
import pytest
from tornado.httpclient import HTTPClientError

from gavel_server import Socket
from helpers import bidder, live_lot, next_phone, of_type, watching

pytestmark = pytest.mark.gen_test(timeout=60)


@pytest.mark.parametrize("frame", [
    "not json", "[1,2]", '"text"', '{"op":"dance"}', '{"op":"bid","lot":"x","price":-5}',
    '{"op":"bid","lot":"x","price":10.5}', '{"op":"bid","lot":"x","price":"100"}', '{"op":"subscribe"}',
    '{"op":"subscribe","lot":"x","auction":"y"}', '{"noop":1}',
])
async def test_malformed_frames_get_invalid_request_and_the_socket_stays_open(server, frame):
    sock = await Socket.open(server.ws_url)
    await sock.conn.write_message(frame)
    error = await sock.until(of_type("error"))
    assert error["code"] == "invalid_request"
    await sock.send({"op": "ping", "t": 5})
    pong = await sock.until(of_type("pong"))
    assert pong["t"] == 5 and pong["server_time"] > 0
    sock.close()


async def test_a_frame_over_four_kib_closes_the_socket_with_1009(server):
    sock = await Socket.open(server.ws_url)
    await sock.conn.write_message('{"op":"ping","pad":"' + "x" * 5000 + '"}')
    assert await sock.conn.read_message() is None
    assert sock.conn.close_code == 1009


async def test_subscribing_to_an_unknown_lot_is_not_found(server):
    sock = await Socket.open(server.ws_url)
    await sock.send({"op": "subscribe", "lot": "ffff", "id": "s1"})
    error = await sock.until(of_type("error"))
    assert error["code"] == "not_found" and error["id"] == "s1"
    sock.close()


async def test_auth_by_first_message_and_bad_tokens(server, api):
    token, user = await api.login(next_phone())
    sock = await Socket.open(server.ws_url)
    await sock.send({"op": "auth", "token": token})
    assert await sock.until(of_type("auth")) == {"type": "auth", "ok": True, "user_id": user["id"]}
    bad = await Socket.open(server.ws_url)
    await bad.send({"op": "auth", "token": "nope"})
    assert (await bad.until(of_type("error")))["code"] == "unauthorized"
    sock.close()
    bad.close()


async def test_bidding_too_fast_is_rate_limited(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    sock, _ = await watching(server, lot["id"], token)
    for i in range(40):
        await sock.send({"op": "bid", "lot": lot["id"], "price": 1000000 + i * 10000, "id": f"f{i}"})
    answers = [await sock.until(lambda f: f["type"] in ("ack", "error") and f.get("id") == f"f{i}") for i in range(40)]
    codes = [a.get("code", "ack") for a in answers]
    assert "rate_limited" in codes and codes.count("rate_limited") >= 15
    sock.close()


async def test_a_browser_from_a_foreign_origin_is_refused(server):
    with pytest.raises(HTTPClientError) as refused:
        await Socket.open(server.ws_url, origin="https://evil.example")
    assert refused.value.code == 403
    same = await Socket.open(server.ws_url, origin=f"http://127.0.0.1:{server.port}")
    await same.send({"op": "ping"})
    assert (await same.until(of_type("pong")))["type"] == "pong"
    same.close()


async def test_an_allowed_origin_is_accepted(server_factory):
    other = server_factory("origins", ALLOWED_ORIGINS="https://shop.example,https://m.example")
    sock = await Socket.open(other.ws_url, origin="https://m.example")
    await sock.send({"op": "ping"})
    assert (await sock.until(of_type("pong")))["type"] == "pong"
    sock.close()


async def test_a_token_in_the_socket_url_never_reaches_the_log(server_factory, api):
    logged = server_factory("quiet-log", LOG_LEVEL="DEBUG")
    from gavel_server import Api
    token, _ = await Api(logged.url).login("13600000077")
    sock = await Socket.open(logged.ws_url, token)
    await sock.until(of_type("auth"))
    sock.close()
    status, _ = await Api(logged.url).get("/api/me", token=token)
    assert status == 200
    log = (logged.data_dir / "server.log").read_text()
    assert "101 GET /ws (" in log and token not in log


async def test_a_socket_watching_a_lot_and_its_session_gets_each_bid_and_the_close_once(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=2)
    token, _ = await bidder(api, auction["id"])
    sock = await Socket.open(server.ws_url)
    await sock.send({"op": "subscribe", "auction": auction["id"]})
    await sock.until(of_type("subscribed"))
    await sock.send({"op": "subscribe", "lot": lot["id"]})
    await sock.until(of_type("snapshot"))
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token))[0] == 201
    frames = []

    def kinds():
        return [(f["type"], f.get("status")) for f in frames if f["type"] in ("bid", "status", "auction")]

    while not {("status", "sold"), ("auction", "ended")} <= set(kinds()):  # the close lands seconds from now
        frames.append(await sock.until(lambda f: True, timeout=10))
    try:
        while True:  # then a moment without a frame, so that a repeat would have shown
            frames.append(await sock.until(lambda f: True, timeout=1.0))
    except TimeoutError:
        pass
    seen = kinds()
    assert seen.count(("bid", None)) == 1 and seen.count(("status", "sold")) == 1, frames
    sock.close()
