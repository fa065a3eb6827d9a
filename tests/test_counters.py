"""A session's counters cannot drift: a count lost on its way (a node that
died before writing it, an event lost while Redis reconnected) or a crash
between a lot's insert and its count leaves no lasting error."""
import pytest

from helpers import bidder, create_session, database, live_lot, lot_body, wait_for

pytestmark = pytest.mark.gen_test(timeout=60)


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory("counters", RECOVERY_INTERVAL_S=0.5)


async def session_field(api, auction_id, name):
    return (await api.get(f"/api/auctions/{auction_id}"))[1][name]


async def test_a_lost_bid_count_is_put_right_by_the_next_bid_and_by_the_sweep(admin, api, server):
    auction, (lot1, lot2) = await live_lot(admin, lots=2)
    token, _ = await bidder(api, auction["id"])
    for lot, price in ((lot1, 10000), (lot2, 10000)):
        assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=token))[0] == 201
    await wait_for(lambda: session_field(api, auction["id"], "bid_count"), lambda n: n == 2)
    async with database(server.env["MONGODB_URL"]) as db:  # as if a node died with counts unwritten
        await db.auctions.update_one({"_id": auction["id"]}, {"$set": {"bid_count": 0}})
    await wait_for(lambda: session_field(api, auction["id"], "bid_count"), lambda n: n == 2, timeout=3)

    other, _ = await bidder(api, auction["id"])
    async with database(server.env["MONGODB_URL"]) as db:
        await db.auctions.update_one({"_id": auction["id"]}, {"$set": {"bid_count": 40}})
    assert (await api.post(f"/api/lots/{lot1['id']}/bids", {"price": 11000}, token=other))[0] == 201
    await wait_for(lambda: session_field(api, auction["id"], "bid_count"), lambda n: n == 3, timeout=3)


async def test_an_undone_bid_is_uncounted(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_a)
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=token_b)
    assert (await admin.post(f"/api/admin/lots/{lot['id']}/undo"))[0] == 200
    await wait_for(lambda: session_field(api, auction["id"], "bid_count"), lambda n: n == 1, timeout=3)


async def test_a_lot_stored_but_never_counted_is_counted_by_the_sweep(admin, api, server):
    auction, (lot,) = await create_session(admin, lots=1)
    async with database(server.env["MONGODB_URL"]) as db:
        stored = await db.lots.find_one({"_id": lot["id"]})
        # A second lot inserted as lots.create does, and the process gone before its `$inc`.
        await db.lots.insert_one({**stored, "_id": "f" * 32, "catalog_no": "CRASH-1"})
    assert await session_field(api, auction["id"], "lot_count") == 1
    await wait_for(lambda: session_field(api, auction["id"], "lot_count"), lambda n: n == 2, timeout=3)
    status, created = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body())
    assert status == 201
    await wait_for(lambda: session_field(api, auction["id"], "lot_count"), lambda n: n == 3, timeout=3)
