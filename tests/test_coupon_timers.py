"""Coupon timers: claiming opens and closes on time, moves with an edit, is
cancelled by a delete and survives a restart; a claimed coupon expires at
its end however that is set, and a restart cannot skip it."""
import asyncio
import time

import pytest

from gavel_server import Api
from helpers import claiming_coupon, coupon_body, create_session, database, iso, ms, next_phone, wait_for

pytestmark = pytest.mark.gen_test(timeout=60)
DAY_MS = 86400 * 1000


async def statuses_seen(admin, coupon_id: str, until: str = "ended", timeout: float = 15) -> dict[str, int]:
    """Poll like the console would; when each status was first seen (epoch ms)."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, coupon = await admin.get(f"/api/admin/coupons/{coupon_id}")
        seen.setdefault(coupon["status"], int(time.time() * 1000))
        if coupon["status"] == until:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {until}: {seen}")


async def moves(admin, coupon_id: str) -> list[str]:
    status, trail = await admin.get(f"/api/admin/audit?target={coupon_id}")
    return [e["action"] for e in trail["items"]]


async def expired_at(api, token: str, uc_id: str, timeout: float = 10) -> int:
    """When the holder first sees the coupon among the expired ones (epoch ms)."""
    await wait_for(lambda: api.get("/api/my/coupons", token=token),
                   lambda r: uc_id in [i["id"] for i in r[1]["expired"]["items"]], timeout=timeout, every=0.05)
    return int(time.time() * 1000)


async def claim(api, coupon_id: str) -> tuple[str, dict]:
    token, _ = await api.login(next_phone())
    status, body = await api.post(f"/api/coupons/{coupon_id}/claim", token=token)
    assert status == 201, body
    return token, body["user_coupon"]


async def test_a_coupon_goes_pending_then_claiming_then_ended_each_within_a_second(admin):
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(start_in=1.5, stop_in=3))
    assert status == 201 and coupon["status"] == "pending"
    seen = await statuses_seen(admin, coupon["id"])
    assert 0 <= seen["claiming"] - ms(coupon["claim_start"]) < 1000, seen
    assert 0 <= seen["ended"] - ms(coupon["claim_end"]) < 1000, seen
    assert await moves(admin, coupon["id"]) == ["claiming", "ended"]


async def test_an_edit_while_pending_moves_both_timers(admin):
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(start_in=1, stop_in=2))
    now = time.time()
    later = {"claim_start": iso(now + 2.5), "claim_end": iso(now + 3.5)}
    status, edited = await admin.put(f"/api/admin/coupons/{coupon['id']}", later)
    assert status == 200, edited
    seen = await statuses_seen(admin, coupon["id"])
    assert 0 <= seen["claiming"] - ms(later["claim_start"]) < 1000, seen
    assert 0 <= seen["ended"] - ms(later["claim_end"]) < 1000, seen
    assert await moves(admin, coupon["id"]) == ["claiming", "ended"]


async def test_deleting_a_coupon_cancels_its_timers(admin, server):
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(start_in=0.5, stop_in=1))
    assert (await admin.delete(f"/api/admin/coupons/{coupon['id']}"))[0] == 204
    await asyncio.sleep(1.5)
    assert await moves(admin, coupon["id"]) == []
    async with database(server.env["MONGODB_URL"]) as db:
        assert (await db.coupons.find_one({"_id": coupon["id"]}))["status"] == "pending"


async def test_a_restart_between_the_start_and_the_stop_still_fires_each_once(server_factory):
    server = server_factory("coupon-restart")
    admin = Api(server.url, server.admin_token)
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(start_in=1.5, stop_in=5))
    server.stop()
    await asyncio.sleep(max(0, ms(coupon["claim_start"]) / 1000 - time.time()) + 0.3)
    server.restart()
    seen = await statuses_seen(admin, coupon["id"])
    assert "pending" not in seen  # claiming from the moment it came back
    assert 0 <= seen["ended"] - ms(coupon["claim_end"]) < 1000, seen
    await asyncio.sleep(0.5)
    assert await moves(admin, coupon["id"]) == ["claiming", "ended"]


async def test_a_claimed_coupon_expires_at_the_end_of_its_use_window(admin, api):
    now = time.time()
    coupon = await claiming_coupon(admin, valid_days=0, use_start=iso(now), use_end=iso(now + 2))
    token, uc = await claim(api, coupon["id"])
    assert uc["expires_at"] == coupon["use_end"]
    assert 0 <= await expired_at(api, token, uc["id"]) - ms(uc["expires_at"]) < 1000


async def test_a_session_coupon_expires_a_delay_after_its_session_ends(server_factory):
    server = server_factory("coupon-session-end", COUPON_EXPIRE_SECONDS=2)
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    auction, _ = await create_session(admin, lots=0, preview_in=0, live_in=0.5, end_in=3)
    coupon = await claiming_coupon(admin, scope="auction", auction_id=auction["id"], valid_days=0)
    token, uc = await claim(api, coupon["id"])
    assert ms(uc["expires_at"]) == ms(auction["auction_end"]) + 2000
    assert 0 <= await expired_at(api, token, uc["id"]) - ms(uc["expires_at"]) < 1000


async def test_a_valid_days_coupon_expires_that_many_days_after_its_claim_and_a_restart_cannot_skip_it(
        server_factory):
    server = server_factory("coupon-days")
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    coupon = await claiming_coupon(admin, valid_days=2)
    (token_a, due), (token_b, soon) = [await claim(api, coupon["id"]) for _ in range(2)]
    assert ms(due["expires_at"]) - ms(due["claimed_at"]) == 2 * DAY_MS
    server.stop()
    async with database(server.env["MONGODB_URL"]) as db:  # two days pass while the server is down, or nearly
        now = int(time.time() * 1000)
        for uc, shift in ((due, 2 * DAY_MS), (soon, ms(soon["expires_at"]) - now - 2500)):
            await db.user_coupons.update_one({"_id": uc["id"]}, {"$inc": {"claimed_at": -shift, "expires_at": -shift}})
    server.restart()
    healthy = int(time.time() * 1000)
    assert await expired_at(api, token_a, due["id"]) - healthy < 1000
    status, groups = await api.get("/api/my/coupons", token=token_b)
    assert [i["id"] for i in groups["unused"]["items"]] == [soon["id"]]
    expires = ms(groups["unused"]["items"][0]["expires_at"])
    assert 0 <= await expired_at(api, token_b, soon["id"]) - expires < 1000
