"""A value the server accepts can never make it unable to serve or to start:
validation refuses what the rest of the server cannot represent (and a
refused write stores nothing), and a bad document written straight into the
store is logged and left out of the timers and the lists."""
import time

import pytest

from gavel_server import Api
from helpers import bidder, create_session, database, iso, live_lot, lot_body, session_body

pytestmark = pytest.mark.gen_test(timeout=60)
YEAR = 365 * 86400


@pytest.mark.parametrize("times, why", [
    ({"auction_end": "0001-01-01T00:00:00+14:00"}, "the far end of the calendar, with an offset"),
    ({"preview_start": "9999-12-31T23:59:59-12:00"}, "the other end"),
    ({"auction_start": "2026-13-01T00:00:00Z"}, "not a date"),
    ({"preview_start": iso(time.time() - 7200), "preview_end": iso(time.time() - 7100),
      "auction_start": iso(time.time() - 7000), "auction_end": iso(time.time() - 60)}, "an end already passed"),
    ({"auction_end": iso(time.time() + 3 * YEAR)}, "years ahead"),
])
async def test_a_session_whose_times_the_server_cannot_keep_is_refused_and_nothing_is_stored(admin, times, why):
    before = (await admin.get("/api/admin/auctions"))[1]["items"]
    status, body = await admin.post("/api/admin/auctions", {**session_body(), **times})
    assert status in (400, 422) and body["error"]["code"] == "invalid_request", why
    assert (await admin.get("/api/admin/auctions"))[1]["items"] == before, why


@pytest.mark.parametrize("field, value", [
    ("title", "茶盏\x00"), ("title", "line\nbreak"), ("start_price", 10**12), ("deposit", 10**15),
    ("specs", [{"key": "产地\x07", "value": "景德镇"}]), ("estimate_high", 10**11 + 1),
])
async def test_a_lot_with_control_characters_or_money_beyond_any_bid_is_refused(admin, field, value):
    auction, _ = await create_session(admin, lots=0)
    status, body = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(**{field: value}))
    assert status in (400, 422), (field, value, body)
    assert (await admin.get(f"/api/admin/auctions/{auction['id']}"))[1]["lots"] == []


async def test_a_bad_document_in_the_store_is_left_out_and_the_server_still_starts_and_serves(server_factory):
    server = server_factory("bad-data")
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    good, (lot,) = await live_lot(admin, lots=1)
    token, _ = await bidder(api, good["id"])
    async with database(server.env["MONGODB_URL"]) as db:
        stored = await db.auctions.find_one({"_id": good["id"]})
        far = 10**18  # epoch ms no calendar holds: neither an ISO time nor a timer
        await db.auctions.insert_one({**stored, "_id": "b" * 32, "title": "坏数据", "status": "scheduled",
                                      "preview_start": far, "preview_end": far, "auction_start": far,
                                      "auction_end": far})
        await db.lots.insert_one({**(await db.lots.find_one({"_id": lot["id"]})), "_id": "c" * 32,
                                  "catalog_no": "BAD-1", "status": "scheduled", "end_at": far})
    server.restart()
    status, listed = await api.get("/api/auctions")
    assert status == 200 and [a["id"] for a in listed["items"]] == [good["id"]]
    assert (await admin.get("/api/admin/auctions"))[0] == 200
    status, shown = await api.get(f"/api/auctions/{good['id']}")
    assert status == 200 and [x["id"] for x in shown["lots"]] == [lot["id"]]
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token))[0] == 201
    assert "cannot be" in server.log_text()
