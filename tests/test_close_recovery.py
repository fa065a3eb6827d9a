"""Crash safety of the close: every multi-document step records its progress
on the document that owns it, the recovery sweep finishes what a crash
interrupted, and repeating any step changes nothing."""
import asyncio
import signal
import time

import pytest

import bulk
from domain import deposits, overdue, recovery, refunds, wallet
from domain.clock import SystemClock
from domain.ids import new_id, readable_serial
from domain.rules import Rules
from gavel_server import Api
from helpers import EventRecorder, bidder, create_session, database, iso, live_lot, next_phone, wait_for
from server.db import ensure_indexes

pytestmark = pytest.mark.gen_test(timeout=120)
LOTS, BIDDERS_PER_LOT, BIDS_PER_LOT, USERS, DEPOSIT = 200, 5, 10, 50, 5000


async def test_killed_in_the_middle_of_closing_200_lots_the_restarted_server_closes_each_once(server_factory):
    server = server_factory("crash")
    admin = Api(server.url, server.admin_token)
    auction, _ = await create_session(admin, lots=0)
    async with database(server.env["MONGODB_URL"]) as db:
        lots = await bulk.seed(db, auction["id"], LOTS, BIDDERS_PER_LOT, BIDS_PER_LOT, USERS, DEPOSIT, unsold_every=10)
        start = time.time()
        times = {"preview_start": iso(start), "preview_end": iso(start), "auction_start": iso(start + 0.3),
                 "auction_end": iso(start + 1)}
        assert (await admin.put(f"/api/admin/auctions/{auction['id']}", times))[0] == 200

        closed = {"auction_id": auction["id"], "settle": {"$exists": True}}
        while await db.lots.count_documents(closed) < 20:
            await asyncio.sleep(0.005)
        server.stop(sig=signal.SIGKILL)
        unsettled = {"auction_id": auction["id"], "settle": {"$ne": "done"}}
        assert await db.lots.count_documents(unsettled), "the close finished before the kill: nothing was interrupted"

        server.restart()
        await wait_for(lambda: db.lots.find_one(unsettled), lambda left: left is None, timeout=60, every=0.2)
        await wait_for(lambda: db.auctions.find_one({"_id": auction["id"]}), lambda a: a.get("settle") == "done")
        await check_closed_once(db, admin, auction["id"], lots)


async def check_closed_once(db, admin, auction_id: str, lots: list[dict]) -> None:
    lot_docs = {d["_id"]: d async for d in db.lots.find({"auction_id": auction_id})}
    sold = {i for i, d in lot_docs.items() if d["status"] == "sold"}
    assert len(sold) == LOTS - LOTS // 10 and {d["status"] for d in lot_docs.values()} == {"sold", "unsold"}
    assert {d["settle"] for d in lot_docs.values()} == {"done"}
    for lot in lots:
        status, trail = await admin.get(f"/api/admin/audit?target={lot['_id']}")
        closes = [e["action"] for e in trail["items"] if e["action"] in ("sold", "unsold")]
        assert closes == [lot_docs[lot["_id"]]["status"]], trail
    status, trail = await admin.get(f"/api/admin/audit?target={auction_id}")
    assert [e["action"] for e in trail["items"]].count("ended") == 1

    orders = await db.orders.find({"auction_id": auction_id}).to_list(None)
    assert sorted(o["lot_id"] for o in orders) == sorted(sold)  # one order per sold lot, none twice
    winners_deposits = set()
    for order in orders:
        lot = lot_docs[order["lot_id"]]
        assert (order["user_id"], order["price"], order["status"]) == (lot["leader"], lot["deal_price"], "unpaid")
        winners_deposits.add(order["deposit_id"])
        assert (await db.bids.find_one({"_id": order["bid_id"]}))["status"] == "won"
    assert await db.bids.count_documents({"auction_id": auction_id, "status": "won"}) == len(sold)

    all_deposits = await db.deposits.find({"auction_id": auction_id}).to_list(None)
    held = [d for d in all_deposits if d["state"] == "held"]
    assert {d["_id"] for d in held} == winners_deposits
    refunded = [d for d in all_deposits if d["state"] == "refunded"]
    assert len(refunded) == len(all_deposits) - len(held) == LOTS * BIDDERS_PER_LOT - len(sold)
    refund_records = await db.deposit_refunds.find({"deposit_id": {"$in": [d["_id"] for d in refunded]}}).to_list(None)
    assert len(refund_records) == len(refunded) and {r["status"] for r in refund_records} == {"done"}
    assert await db.ledger.count_documents({"kind": "refund"}) == len(refunded)  # every refund made once

    held_by = {}
    for d in held:
        held_by[d["user_id"]] = held_by.get(d["user_id"], 0) + 1
    for user_id in {d["user_id"] for d in all_deposits}:
        lines = await db.ledger.find({"user_id": user_id}).sort("seq", 1).to_list(None)
        assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
        assert sum(line["amount"] for line in lines) == lines[-1]["balance_after"]
        assert lines[-1]["balance_after"] == bulk.OPENING - DEPOSIT * held_by.get(user_id, 0)


async def test_the_sweep_finishes_a_balance_payment_cut_short_and_releases_a_stale_claim(mongo_base_url):
    async with database(f"{mongo_base_url}/gavel_steps_{new_id()[:8]}") as db:
        await ensure_indexes(db)
        now = SystemClock().now_ms()
        user = {"_id": new_id(), "phone": next_phone(), "nickname": "甲", "role": "bidder", "created_at": now,
                "banned_until": 0}
        await db.users.insert_one(user)
        await wallet.append(db, user["_id"], "opening", 100000, key="opening", now=now)
        auction = {"_id": new_id(), "status": "preview", "deleted_at": 0, "deposit": 20000, "lot_count": 0}
        await db.auctions.insert_one(auction)
        await db.lots.insert_many([{"_id": lot, "status": "preview", "deleted_at": 0} for lot in ("a", "b")])
        debited, stale = (claim(user["_id"], auction, now - deposits.STALE_CLAIM_MS - 1, lot) for lot in ("a", "b"))
        await db.deposits.insert_many([debited, stale])
        await wallet.append(db, user["_id"], "deposit", -20000, key=f"deposit:{debited['_id']}", now=now)
        for _ in range(2):
            await recovery.sweep(db, EventRecorder(), now, Rules())
        assert (await db.deposits.find_one({"_id": debited["_id"]}))["status"] == "paid"
        assert await db.deposits.find_one({"_id": stale["_id"]}) is None
        assert await wallet.balance(db, user["_id"]) == 80000


def claim(user_id: str, auction: dict, at: int, lot_id: str) -> dict:
    """A balance deposit as `deposits.create` leaves it between its first write and the debit."""
    key = deposits.scope_key(user_id, auction["_id"], lot_id)
    return {"_id": new_id(), "uid": readable_serial(at, "D"), "user_id": user_id, "kind": "lot",
            "auction_id": auction["_id"], "lot_id": lot_id, "amount": 20000, "scope": key, "scope_key": key,
            "status": "unpaid", "pay_type": "balance", "state": "", "remaining": 20000, "forfeit_order": "", "use_payment": "",
            "created_at": at, "paid_at": 0}


async def test_a_refund_or_a_forfeit_repeated_changes_nothing(mongo_base_url):
    async with database(f"{mongo_base_url}/gavel_steps_{new_id()[:8]}") as db:
        await ensure_indexes(db)
        now = SystemClock().now_ms()
        user_id = new_id()
        await db.users.insert_one({"_id": user_id, "banned_until": 0})
        await wallet.append(db, user_id, "opening", 100000, key="opening", now=now)
        auction = {"_id": new_id(), "status": "live", "deleted_at": 0, "deposit": 20000}
        await db.auctions.insert_one(auction)
        back, kept = ({**claim(user_id, auction, now, lot), "status": "paid", "state": "held"} for lot in ("a", "b"))
        await db.deposits.insert_many([back, kept])
        await db.deposits.update_one({"_id": back["_id"]}, {"$set": {"state": "refunding"}})  # interrupted
        await asyncio.gather(*(refunds.refund(db, back["_id"], now) for _ in range(3)))
        assert await wallet.balance(db, user_id) == 120000
        assert await db.deposit_refunds.count_documents({"deposit_id": back["_id"]}) == 1

        order = {"_id": new_id(), "user_id": user_id, "lot_id": "b", "auction_id": auction["_id"], "bid_id": "",
                 "deposit_id": kept["_id"], "round": 1, "status": "unpaid", "deadline": now - 1, "forfeit": "",
                 "overdue_at": 0, "payment": ""}
        await db.orders.insert_one(order)
        rules = Rules(ban_days=1)
        await asyncio.gather(*(overdue.expire(db, EventRecorder(), order["_id"], now, rules) for _ in range(3)))
        await overdue.finish_interrupted(db, EventRecorder(), now + 1000, rules)
        deductions = await db.deposit_deductions.find({"deposit_id": kept["_id"]}).to_list(None)
        assert [(d["kind"], d["amount"]) for d in deductions] == [("overdue", 20000)]
        assert (await db.orders.find_one({"_id": order["_id"]}))["forfeit"] == "done"
        assert (await db.users.find_one({"_id": user_id}))["banned_until"] == now + 86400 * 1000
        assert await wallet.balance(db, user_id) == 120000


async def test_the_sweep_writes_back_a_bid_a_crash_kept_out_of_the_history(admin, api, server):
    """The lot took the bid (seq, price, last bid) but the process died before
    the bid document was written: the sweep restores it from the lot."""
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token))[0] == 201
    async with database(server.env["MONGODB_URL"]) as db:
        await db.bids.delete_one({"_id": f"{lot['id']}:1"})  # as if the insert never happened
        assert (await api.get(f"/api/lots/{lot['id']}/bids"))[1]["items"] == []
        await recovery.sweep(db, EventRecorder(), int(time.time() * 1000), Rules(86400, 30))
    status, history = await api.get(f"/api/lots/{lot['id']}/bids")
    assert [(b["seq"], b["price"], b["status"]) for b in history["items"]] == [(1, 10000, "bidding")]


async def test_the_next_bid_on_another_node_writes_back_the_bid_a_crash_kept_out_of_the_history(server_factory):
    """Node A's lot took a bid but A died before writing the bid document;
    the next bid, on node B, would overwrite the lot's copy of it: B writes
    both, long before any sweep. (B has taken no bid on the lot before, so
    A's announcement of the deleted bid has not told B it is stored.)"""
    node_a, node_b = server_factory("node_a", database="cut_off"), server_factory("node_b", database="cut_off")
    admin = Api(node_a.url, node_a.admin_token)
    auction, (lot,) = await live_lot(admin)
    on_a, on_b = Api(node_a.url), Api(node_b.url)
    first, _ = await bidder(on_a, auction["id"])
    second, _ = await bidder(on_b, auction["id"])
    assert (await on_a.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=first))[0] == 201
    async with database(node_a.env["MONGODB_URL"]) as db:
        await db.bids.delete_one({"_id": f"{lot['id']}:1"})  # as if node A died before the insert
    assert (await on_b.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=second))[0] == 201
    status, history = await on_b.get(f"/api/lots/{lot['id']}/bids")
    assert [(b["seq"], b["price"]) for b in history["items"]] == [(2, 11000), (1, 10000)]


async def test_a_later_sweep_looks_for_cut_off_bids_among_the_lots_bid_on_since_the_last_one(admin, api, server):
    auction, (old, recent) = await live_lot(admin, lots=2)
    token, _ = await bidder(api, auction["id"])
    assert (await api.post(f"/api/lots/{old['id']}/bids", {"price": 10000}, token=token))[0] == 201
    last_sweep = int(time.time() * 1000) + 1
    await asyncio.sleep(0.01)
    assert (await api.post(f"/api/lots/{recent['id']}/bids", {"price": 10000}, token=token))[0] == 201
    async with database(server.env["MONGODB_URL"]) as db:
        for lot in (old, recent):
            await db.bids.delete_one({"_id": f"{lot['id']}:1"})
        await recovery.sweep(db, EventRecorder(), int(time.time() * 1000), Rules(86400, 30), bids_since=last_sweep)
        assert await db.bids.find_one({"_id": f"{recent['id']}:1"})  # bid on since: checked and restored
        assert not await db.bids.find_one({"_id": f"{old['id']}:1"})  # the previous sweep's business
        await recovery.sweep(db, EventRecorder(), int(time.time() * 1000), Rules(86400, 30))  # a start-up sweep
        assert await db.bids.find_one({"_id": f"{old['id']}:1"})


async def test_the_running_servers_later_sweeps_still_restore_a_bid_cut_off_after_the_first(server_factory):
    server = server_factory("sweeping", RECOVERY_INTERVAL_S=0.3)
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    await asyncio.sleep(0.7)  # the start-up sweep and a later one have run
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token))[0] == 201
    async with database(server.env["MONGODB_URL"]) as db:
        await db.bids.delete_one({"_id": f"{lot['id']}:1"})  # as if the insert never happened
    history = await wait_for(lambda: api.get(f"/api/lots/{lot['id']}/bids"), lambda r: r[1]["items"], timeout=5)
    assert [(b["seq"], b["price"]) for b in history[1]["items"]] == [(1, 10000)]


async def test_the_sweep_finishes_a_session_delete_cut_short_before_its_lots(admin, api, server):
    auction, (lot,) = await create_session(admin)
    async with database(server.env["MONGODB_URL"]) as db:
        await db.auctions.update_one({"_id": auction["id"]}, {"$set": {"deleted_at": int(time.time() * 1000)}})
        assert (await api.get(f"/api/lots/{lot['id']}"))[0] == 200  # the crash left the lot showing
        await recovery.sweep(db, EventRecorder(), int(time.time() * 1000), Rules(86400, 30))
    assert (await api.get(f"/api/lots/{lot['id']}"))[0] == 404


async def test_the_sweep_recounts_the_lots_of_a_session_whose_count_was_cut_off(admin, api, server):
    auction, lots = await create_session(admin, lots=2)
    async with database(server.env["MONGODB_URL"]) as db:
        await db.auctions.update_one({"_id": auction["id"]}, {"$set": {"lot_count": 1}})  # the crash came before the $inc
        await recovery.sweep(db, EventRecorder(), int(time.time() * 1000), Rules(86400, 30))
    status, body = await api.get(f"/api/auctions/{auction['id']}")
    assert status == 200 and body["lot_count"] == 2
