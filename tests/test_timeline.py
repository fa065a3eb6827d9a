"""The auction timeline: timers move sessions and lots on time, survive a
restart, and a transition made twice changes nothing the second time."""
import asyncio
import time

import pytest
from pymongo import AsyncMongoClient

from domain import timeline
from domain.clock import from_iso
from gavel_server import Api
from helpers import EventRecorder, create_session, ms, session_body, wait_for

pytestmark = pytest.mark.gen_test(timeout=60)


async def watch_statuses(api, auction_id, lot_ids, until_status="ended", timeout=15):
    """Poll like a client would; note when each status was first seen (epoch ms)."""
    seen: dict[tuple[str, str], int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, auction = await api.get(f"/api/auctions/{auction_id}")
        now = int(time.time() * 1000)  # when the client learnt it
        seen.setdefault(("auction", auction["status"]), now)
        for lot in auction["lots"]:
            seen.setdefault((lot["id"], lot["status"]), now)
        if auction["status"] == until_status:
            return seen, auction
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {until_status}: {seen}")


async def test_session_and_lots_go_scheduled_preview_live_ended_on_time(admin, api):
    auction, lots = await create_session(admin, lots=2, preview_in=1, live_in=2, end_in=3.5)
    seen, final = await watch_statuses(api, auction["id"], [lot["id"] for lot in lots])
    for status, field in (("preview", "preview_start"), ("live", "auction_start"), ("ended", "auction_end")):
        due = ms(auction[field])
        assert 0 <= seen[("auction", status)] - due < 1000, (status, seen[("auction", status)] - due)
    for lot in lots:
        assert 0 <= seen[(lot["id"], "preview")] - ms(auction["preview_start"]) < 1000
        assert 0 <= seen[(lot["id"], "live")] - ms(auction["auction_start"]) < 1000
        assert 0 <= seen[(lot["id"], "unsold")] - ms(auction["auction_end"]) < 1000
    assert [lot["status_text"] for lot in final["lots"]] == ["流拍", "流拍"]
    assert final["status_text"] == "已结束"


async def test_editing_a_session_moves_its_timers(admin, api):
    auction, _ = await create_session(admin, preview_in=1, live_in=60, end_in=120)
    moved = session_body(preview_in=2.5, live_in=60, end_in=120)
    assert (await admin.put(f"/api/admin/auctions/{auction['id']}", moved))[0] == 200
    await asyncio.sleep(1.5)
    assert (await api.get(f"/api/auctions/{auction['id']}"))[1]["status"] == "scheduled"
    await wait_for(lambda: api.get(f"/api/auctions/{auction['id']}"), lambda r: r[1]["status"] == "preview", timeout=3)


async def test_deleting_a_session_cancels_its_timers(admin):
    auction, _ = await create_session(admin, preview_in=0.5, live_in=1, end_in=1.5)
    assert (await admin.delete(f"/api/admin/auctions/{auction['id']}"))[0] == 204
    await asyncio.sleep(2)
    status, trail = await admin.get(f"/api/admin/audit?target={auction['id']}")
    assert trail["items"] == []


async def test_session_that_ended_while_the_server_was_down_ends_at_start_up_exactly_once(server_factory):
    server = server_factory("restart")
    admin = Api(server.url, server.admin_token)
    auction, (lot,) = await create_session(admin, preview_in=0, live_in=0.5, end_in=2)
    await wait_for(lambda: admin.get(f"/api/auctions/{auction['id']}"), lambda r: r[1]["status"] == "live")
    server.stop()
    await asyncio.sleep(max(0, ms(auction["auction_end"]) / 1000 - time.time()) + 0.5)
    started = time.time()
    server.restart()
    healthy = time.time()
    await wait_for(lambda: admin.get(f"/api/auctions/{auction['id']}"), lambda r: r[1]["status"] == "ended", timeout=1)
    assert time.time() - healthy < 1 and healthy - started < 10
    await asyncio.sleep(1)
    for target, action in ((auction["id"], "ended"), (lot["id"], "unsold")):
        status, trail = await admin.get(f"/api/admin/audit?target={target}")
        assert [e["action"] for e in trail["items"]].count(action) == 1, trail


async def test_two_nodes_running_the_same_timers_make_each_transition_once(server_factory):
    first = server_factory("node-a", database="gavel_two_nodes", prefix="twonodes-" + str(time.time_ns()) + ":")
    second = server_factory("node-b", database="gavel_two_nodes", prefix=first.env["REDIS_PREFIX"])
    admin = Api(first.url, first.admin_token)
    auction, lots = await create_session(admin, lots=3, preview_in=1, live_in=1.5, end_in=2.5)
    other = Api(second.url, second.admin_token)
    await wait_for(lambda: other.get(f"/api/auctions/{auction['id']}"), lambda r: r[1]["status"] == "ended", timeout=10)
    await asyncio.sleep(0.5)
    status, trail = await admin.get(f"/api/admin/audit?target={auction['id']}")
    assert [e["action"] for e in trail["items"]] == ["preview", "live", "ended"]
    for lot in lots:
        status, trail = await other.get(f"/api/admin/audit?target={lot['id']}")
        assert [e["action"] for e in trail["items"]] == ["preview", "live", "unsold"]


async def test_advancing_a_session_twice_at_the_same_time_changes_nothing_the_second_time(admin, server):
    auction, lots = await create_session(admin, lots=2, preview_in=3600, live_in=7200, end_in=10800)
    client = AsyncMongoClient(server.env["MONGODB_URL"])
    try:
        db = client.get_default_database()
        after_end = from_iso(auction["auction_end"]) + 1
        first, second = EventRecorder(), EventRecorder()
        await timeline.advance(db, first, auction["id"], after_end)
        before = await db.lots.find({"auction_id": auction["id"]}).to_list(None)
        await timeline.advance(db, second, auction["id"], after_end)
        assert second.events == []
        assert await db.lots.find({"auction_id": auction["id"]}).to_list(None) == before
        assert [e["status"] for e in first.events if e["type"] == "auction"] == ["preview", "live", "ended"]
    finally:
        await client.close()
