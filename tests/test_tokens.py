"""Issue 16, tokens: logout (this token), logout-all (every token of the
user), an idle and an absolute lifetime, and ADMIN_TOKEN as the only
bootstrap operator token."""
import asyncio
import re

import pytest

from gavel_server import Api, Socket
from helpers import database, next_phone, of_type

pytestmark = pytest.mark.gen_test(timeout=60)


async def me(api, token) -> int:
    return (await api.get("/api/me", token=token))[0]


async def test_logout_ends_this_token_and_no_other(api):
    phone = next_phone()
    first, _ = await api.login(phone)
    second, _ = await api.login(phone)
    status, body = await api.post("/api/auth/logout", token=first)
    assert status == 200 and body == {"ok": True}
    assert await me(api, first) == 401 and await me(api, second) == 200
    assert (await api.post("/api/auth/logout", token=first))[0] == 401


async def test_logout_all_ends_every_token_of_the_user_and_only_theirs(api):
    phone = next_phone()
    tokens = [(await api.login(phone))[0] for _ in range(3)]
    other, _ = await api.login(next_phone())
    status, body = await api.post("/api/auth/logout-all", token=tokens[1])
    assert status == 200 and body == {"ok": True, "ended": 3}
    assert [await me(api, t) for t in tokens] == [401, 401, 401]
    assert await me(api, other) == 200


async def test_a_socket_whose_token_is_logged_out_watches_on_but_cannot_bid(api, server):
    token, _ = await api.login(next_phone())
    sock = await Socket.open(server.ws_url, token)
    await sock.until(of_type("auth"))
    await api.post("/api/auth/logout", token=token)
    assert await sock.until(of_type("auth")) == {"type": "auth", "ok": False, "reason": "logged_out"}
    await sock.send({"op": "bid", "lot": "ffff", "price": 100, "id": "b1"})
    assert (await sock.until(of_type("error")))["code"] == "unauthorized"
    await sock.send({"op": "ping", "t": 1})
    assert (await sock.until(of_type("pong")))["t"] == 1
    sock.close()


async def test_a_token_ends_after_the_idle_time_unused_and_lives_on_while_used(server_factory):
    server = server_factory("idle", TOKEN_IDLE_SECONDS=2)
    api = Api(server.url)
    used, _ = await api.login(next_phone())
    unused, _ = await api.login(next_phone())
    for _ in range(6):  # 3 s of use, never 2 s apart
        await asyncio.sleep(0.5)
        assert await me(api, used) == 200
    assert await me(api, unused) == 401


async def test_a_token_ends_at_its_lifetime_however_much_it_is_used(server_factory):
    server = server_factory("lifetime", TOKEN_MAX_SECONDS=2)
    api = Api(server.url)
    token, _ = await api.login(next_phone())
    sock = await Socket.open(server.ws_url, token)
    await sock.until(of_type("auth"))
    assert await me(api, token) == 200
    await asyncio.sleep(2.1)
    assert await me(api, token) == 401
    await sock.send({"op": "bid", "lot": "ffff", "price": 100, "id": "late"})
    error = await sock.until(of_type("error"))
    assert error["code"] == "unauthorized" and "expired" in error["message"]
    sock.close()


async def test_tokens_from_before_expiry_keep_working_after_the_upgrade(server_factory):
    server = server_factory("old-tokens")
    token, user = await Api(server.url).login(next_phone())
    async with database(server.env["MONGODB_URL"]) as db:
        await db.tokens.update_many({"user_id": user["id"]}, {"$unset": {"kind": "", "used_at": ""}})
        await db.upgrades.delete_many({})
    server.restart()
    assert await me(Api(server.url), token) == 200


async def test_a_restart_with_a_new_admin_token_ends_the_old_one(server_factory):
    server = server_factory("rotation")
    old = server.admin_token
    assert (await Api(server.url, old).get("/api/me"))[1]["role"] == "operator"
    server.restart(ADMIN_TOKEN="a-brand-new-operator-token-0123")
    assert await me(Api(server.url), old) == 401
    status, body = await Api(server.url, "a-brand-new-operator-token-0123").get("/api/me")
    assert status == 200 and body["role"] == "operator"


async def test_a_generated_operator_token_is_printed_once_and_kept_across_restarts(server_factory):
    server = server_factory("generated", ADMIN_TOKEN="")
    printed = re.findall(r"Operator token: (\S+)  \(generated now, kept in ", server.log_text())
    assert len(printed) == 1
    token = printed[0]
    assert (await Api(server.url, token).get("/api/me"))[1]["role"] == "operator"
    server.restart()
    assert (await Api(server.url, token).get("/api/me"))[1]["role"] == "operator"
    log = (server.data_dir / "server.log").read_text()
    assert log.count(token) == 1 and "Operator token: the one kept in" in log
    # ADMIN_TOKEN, once set, is the only one: the generated token ends.
    server.restart(ADMIN_TOKEN="an-operator-token-from-the-env")
    assert await me(Api(server.url), token) == 401
    assert "an-operator-token-from-the-env" not in (server.data_dir / "server.log").read_text()
