"""The flash claim: two server nodes sharing the store and Redis, many users
claiming one coupon at the same moment, and the claim centre's watchers on
both nodes seeing what remains go down to nothing."""
import asyncio
import time
from collections import Counter

import pytest

import bulk
from gavel_server import Api, Socket
from helpers import claim_all, claiming_coupon, database, of_type

pytestmark = pytest.mark.gen_test(timeout=180)


@pytest.fixture(scope="module")
def nodes(server_factory):
    first = server_factory("coupon-node-1", database="gavel_coupon_race", prefix=f"coupons-{time.time_ns()}:")
    second = server_factory("coupon-node-2", database="gavel_coupon_race", prefix=first.env["REDIS_PREFIX"])
    return first, second


async def watching_the_centre(server) -> tuple[Socket, list[dict]]:
    sock = await Socket.open(server.ws_url)
    await sock.send({"op": "subscribe", "coupons": True})
    first = await sock.until(of_type("coupons"))
    return sock, first["items"]


async def remaining_seen(sock: Socket, coupon_id: str) -> list[int]:
    """What remains of the coupon, frame after frame, until nothing does."""
    seen = []
    while not seen or seen[-1]:
        frame = await sock.until(lambda f: f["type"] == "coupons" and any(i["id"] == coupon_id for i in f["items"]),
                                 timeout=30)
        seen.append(next(i["remaining"] for i in frame["items"] if i["id"] == coupon_id))
    return seen


async def test_500_users_claiming_100_coupons_at_once_on_two_nodes_get_exactly_100(nodes):
    a, b = nodes
    admin = Api(a.url, a.admin_token)
    async with database(a.env["MONGODB_URL"]) as db:
        tokens = await bulk.logged_in_users(db, 500)
    coupon = await claiming_coupon(admin, count=100)
    watchers = [await watching_the_centre(node) for node in (a, b)]
    for _, first in watchers:
        assert [i["remaining"] for i in first if i["id"] == coupon["id"]] == [100]
    watched = [asyncio.ensure_future(remaining_seen(sock, coupon["id"])) for sock, _ in watchers]
    answers = await claim_all([a.url, b.url], tokens, coupon["id"])
    assert Counter(status for status, _, _ in answers) == {201: 100, 409: 400}
    assert {body["error"]["code"] for status, body, _ in answers if status == 409} == {"coupon_sold_out"}
    async with database(a.env["MONGODB_URL"]) as db:
        held = await db.user_coupons.find({"coupon_id": coupon["id"]}).to_list(None)
        assert len(held) == len({uc["user_id"] for uc in held}) == 100
        assert {uc["status"] for uc in held} == {"unused"}
        stored = await db.coupons.find_one({"_id": coupon["id"]})
        assert (stored["claimed"], stored["remaining"], stored["counting"]) == (100, 0, {})
    for seen in await asyncio.gather(*watched):  # on both nodes: down to nothing, never back up
        assert seen[-1] == 0 and seen == sorted(seen, reverse=True), seen
    for sock, _ in watchers:
        sock.close()


async def test_one_user_sending_twenty_claims_at_once_to_two_nodes_gets_one(nodes):
    a, b = nodes
    admin = Api(a.url, a.admin_token)
    async with database(a.env["MONGODB_URL"]) as db:
        (token,) = await bulk.logged_in_users(db, 1)
        coupon = await claiming_coupon(admin, count=5)
        answers = await claim_all([a.url, b.url], [token] * 20, coupon["id"])
        assert sorted(status for status, _, _ in answers) == [201] + [409] * 19
        assert await db.user_coupons.count_documents({"coupon_id": coupon["id"]}) == 1
        assert (await db.coupons.find_one({"_id": coupon["id"]}))["remaining"] == 4
