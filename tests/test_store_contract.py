"""The store behaviours Gavel relies on (spec/mongo-subset.md), pinned against
the real nx-27017 through AsyncMongoClient, and the embedded store's
lifecycle. A failure here means the store changed: re-read the spec."""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.embedded_store import EmbeddedStore, EmbeddedStoreError, pid_alive

ROOT = Path(__file__).resolve().parent.parent
gen_test = pytest.mark.gen_test(timeout=20)


@pytest.fixture
def db_url(mongo_base_url):
    """A fresh database on the session's store for each test."""
    return f"{mongo_base_url}/gavel_contract_{uuid4().hex[:12]}"


@asynccontextmanager
async def connected(url, **options):
    client = AsyncMongoClient(url, **options)
    try:
        yield client.get_default_database()
    finally:
        await client.close()


async def wait_gone(pid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return not pid_alive(pid)


# --- conditional updates ----------------------------------------------------

LOT = {"_id": "lot1", "status": "open", "price": 100, "ends_at": 1_763_900_000_000,
       "leader": "u0", "bid_count": 0, "max_seen": 5}
BID = {"$set": {"price": 150, "leader": "u1"}, "$inc": {"bid_count": 1}, "$max": {"max_seen": 150}}


def bid_filter(leader):
    return {"_id": "lot1", "status": {"$in": ["open", "extended"]}, "price": {"$lte": 100},
            "ends_at": {"$gt": 1_763_800_000_000}, "leader": {"$ne": leader}}


@gen_test
async def test_find_one_and_update_with_a_matching_condition_returns_the_new_document(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_one(dict(LOT))
        after = await db.lots.find_one_and_update(
            bid_filter("u1"), BID, return_document=ReturnDocument.AFTER)
        assert after == {**LOT, "price": 150, "leader": "u1", "bid_count": 1, "max_seen": 150}


@gen_test
async def test_find_one_and_update_returns_none_and_changes_nothing_when_the_condition_fails(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_one(dict(LOT))
        assert await db.lots.find_one_and_update(
            bid_filter("u0"), BID, return_document=ReturnDocument.AFTER) is None  # $ne fails
        assert await db.lots.find_one_and_update(
            {**bid_filter("u1"), "status": "closed"}, BID) is None
        assert await db.lots.find_one({"_id": "lot1"}) == LOT


@gen_test
async def test_max_keeps_the_larger_value(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_one({"_id": "l", "max_seen": 9})
        doc = await db.lots.find_one_and_update(
            {"_id": "l"}, {"$max": {"max_seen": 3}}, return_document=ReturnDocument.AFTER)
        assert doc["max_seen"] == 9


@gen_test
async def test_a_repeated_conditional_transition_modifies_once(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_one({"_id": "l", "status": "open"})
        move = ({"_id": "l", "status": "open"}, {"$set": {"status": "closed"}})
        assert (await db.lots.update_one(*move)).modified_count == 1
        again = await db.lots.update_one(*move)
        assert (again.matched_count, again.modified_count) == (0, 0)


@gen_test
async def test_update_many_with_in_updates_every_match(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_many([{"_id": f"l{i}", "status": s}
                                   for i, s in enumerate(["open", "pending", "closed", "open"])])
        result = await db.lots.update_many({"status": {"$in": ["open", "pending"]}},
                                           {"$set": {"status": "cancelled"}})
        assert result.modified_count == 3
        assert await db.lots.count_documents({"status": "cancelled"}) == 3
        assert await db.lots.count_documents({"status": "closed"}) == 1


@gen_test
async def test_a_counter_notes_its_writer_in_a_map_by_dotted_path_once_and_the_note_can_be_removed(db_url):
    """The coupon claim's step (domain/coupons.py): a conditional $inc that notes
    which claim it counted, the note found by $exists, then $unset."""
    async with connected(db_url) as db:
        await db.coupons.insert_one({"_id": "c", "remaining": 2, "counting": {}, "title": "t"})
        step = {"$inc": {"remaining": -1}, "$set": {"counting.9f3a": 7}}
        when = {"_id": "c", "remaining": {"$gt": 0}, "counting.9f3a": {"$exists": False}}
        after = await db.coupons.find_one_and_update(when, step, projection={"counting": 0},
                                                     return_document=ReturnDocument.AFTER)
        assert after == {"_id": "c", "remaining": 1, "title": "t"}
        assert await db.coupons.find_one_and_update(when, step) is None  # noted: not counted twice
        assert await db.coupons.find_one({"counting.9f3a": {"$exists": True}}, {"_id": 1}) == {"_id": "c"}
        await db.coupons.update_one({"_id": "c"}, {"$unset": {"counting.9f3a": ""}})
        assert await db.coupons.find_one({"_id": "c"}) == {"_id": "c", "remaining": 1, "counting": {}, "title": "t"}


# --- uniqueness ---------------------------------------------------------------

async def users_with_indexes(db):
    await db.users.create_index("phone", unique=True)
    await db.users.create_index([("auction", ASCENDING), ("catalog_no", ASCENDING)], unique=True)
    await db.users.insert_one({"_id": "a", "phone": "1", "auction": "A", "catalog_no": 1})
    return db.users


@gen_test
async def test_unique_indexes_make_insert_one_raise_duplicate_key_11000(db_url):
    async with connected(db_url) as db:
        users = await users_with_indexes(db)
        with pytest.raises(DuplicateKeyError) as single:
            await users.insert_one({"_id": "b", "phone": "1", "auction": "B", "catalog_no": 1})
        with pytest.raises(DuplicateKeyError) as compound:
            await users.insert_one({"_id": "c", "phone": "3", "auction": "A", "catalog_no": 1})
        with pytest.raises(DuplicateKeyError):
            await users.insert_one({"_id": "a", "phone": "4", "auction": "C", "catalog_no": 1})
        assert single.value.code == compound.value.code == 11000
        assert await users.count_documents({}) == 1


@gen_test
async def test_a_compound_unique_index_allows_the_same_key_under_another_first_field(db_url):
    async with connected(db_url) as db:
        users = await users_with_indexes(db)
        await users.insert_one({"_id": "b", "phone": "2", "auction": "B", "catalog_no": 1})
        assert await users.count_documents({"catalog_no": 1}) == 2


@gen_test
async def test_unique_indexes_make_update_one_raise_duplicate_key_11000(db_url):
    async with connected(db_url) as db:
        users = await users_with_indexes(db)
        await users.insert_one({"_id": "b", "phone": "2", "auction": "B", "catalog_no": 1})
        for change in ({"phone": "1"}, {"auction": "A"}):
            with pytest.raises(DuplicateKeyError) as err:
                await users.update_one({"_id": "b"}, {"$set": change})
            assert err.value.code == 11000
        assert await users.find_one({"_id": "b"}) == {
            "_id": "b", "phone": "2", "auction": "B", "catalog_no": 1}


@gen_test
async def test_find_one_and_update_returns_none_on_a_unique_violation(db_url):
    async with connected(db_url) as db:  # quirk: MongoDB raises DuplicateKeyError
        users = await users_with_indexes(db)
        await users.insert_one({"_id": "b", "phone": "2", "auction": "B", "catalog_no": 1})
        assert await users.find_one_and_update(
            {"_id": "b"}, {"$set": {"phone": "1"}}, return_document=ReturnDocument.AFTER) is None
        assert (await users.find_one({"_id": "b"}))["phone"] == "2"


# --- reads ------------------------------------------------------------------------

@gen_test
async def test_find_sorts_and_limits_and_find_one_takes_a_sort(db_url):
    async with connected(db_url) as db:
        await db.bids.insert_many([{"_id": f"b{i}", "lot": "l", "amount": a, "at": 1000 + i}
                                   for i, a in enumerate([300, 100, 500, 200])])
        top = await db.bids.find({"lot": "l"}).sort("amount", DESCENDING).limit(2).to_list()
        assert [b["amount"] for b in top] == [500, 300]
        two_keys = await db.bids.find({}).sort([("lot", ASCENDING), ("at", DESCENDING)]).limit(3).to_list()
        assert [b["_id"] for b in two_keys] == ["b3", "b2", "b1"]
        assert (await db.bids.find_one({"lot": "l"}, sort=[("at", ASCENDING)]))["_id"] == "b0"


@gen_test
async def test_count_documents_counts_matches(db_url):
    async with connected(db_url) as db:
        await db.bids.insert_many([{"_id": str(i), "lot": "l" if i % 3 else "m"} for i in range(10)])
        assert await db.bids.count_documents({"lot": "l"}) == 6
        assert await db.bids.count_documents({}) == 10


@gen_test
async def test_aggregate_match_then_group_sums(db_url):
    async with connected(db_url) as db:
        await db.ledger.insert_many([
            {"_id": "1", "user": "a", "kind": "hold", "cents": 500},
            {"_id": "2", "user": "a", "kind": "hold", "cents": 700},
            {"_id": "3", "user": "b", "kind": "hold", "cents": 100},
            {"_id": "4", "user": "a", "kind": "refund", "cents": 900}])
        cursor = await db.ledger.aggregate([
            {"$match": {"kind": "hold"}},
            {"$group": {"_id": "$user", "total": {"$sum": "$cents"}, "n": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])
        assert await cursor.to_list() == [{"_id": "a", "total": 1200, "n": 2},
                                          {"_id": "b", "total": 100, "n": 1}]


# --- values -------------------------------------------------------------------------

STEPS = [{"up_to": 10_000, "step": 500}, {"up_to": 0, "step": 1_000, "note": {"tier": [1, 2]}}]


@gen_test
async def test_arrays_of_sub_documents_read_back_equal_from_insert_and_whole_array_set(db_url):
    async with connected(db_url) as db:
        await db.auctions.insert_one({"_id": "a", "steps": STEPS})
        assert (await db.auctions.find_one({"_id": "a"}))["steps"] == STEPS
        replaced = [*STEPS, {"up_to": 50, "step": 5}]
        await db.auctions.update_one({"_id": "a"}, {"$set": {"steps": replaced}})
        assert (await db.auctions.find_one({"_id": "a"}))["steps"] == replaced


@gen_test
async def test_push_appends_a_scalar_to_an_array_initialised_on_insert(db_url):
    async with connected(db_url) as db:
        await db.lots.insert_one({"_id": "l", "watchers": []})
        await db.lots.update_one({"_id": "l"}, {"$push": {"watchers": "u1"}})
        await db.lots.update_one({"_id": "l"}, {"$push": {"watchers": 7}})
        assert (await db.lots.find_one({"_id": "l"}))["watchers"] == ["u1", 7]


@gen_test
async def test_a_sub_document_set_whole_or_by_dotted_path_reads_back(db_url):
    async with connected(db_url) as db:
        await db.orders.insert_one({"_id": "o"})
        await db.orders.update_one({"_id": "o"}, {"$set": {"ship_to": {"city": "X", "zip": "1"}}})
        await db.orders.update_one({"_id": "o"}, {"$set": {"ship_to.city": "Y"}})
        assert await db.orders.find_one({"_id": "o"}) == {"_id": "o", "ship_to": {"city": "Y", "zip": "1"}}


@gen_test
async def test_integer_epoch_milliseconds_round_trip_as_ints(db_url):
    async with connected(db_url) as db:
        ms = 1_763_900_000_123
        await db.lots.insert_one({"_id": "l", "ends_at": ms, "deleted_at": 0})
        await db.lots.update_one({"_id": "l"}, {"$set": {"paid_at": ms + 1}, "$inc": {"ends_at": 30_000}})
        doc = await db.lots.find_one({"_id": "l"})
        assert doc == {"_id": "l", "ends_at": ms + 30_000, "deleted_at": 0, "paid_at": ms + 1}
        assert all(type(v) is not float and isinstance(v, int) for k, v in doc.items() if k != "_id")
        assert await db.lots.count_documents({"ends_at": {"$gt": ms, "$lte": ms + 30_000}}) == 1


# --- known traps, pinned as they are ---------------------------------------------------

NULLS = [{"_id": "stored_none", "f": None}, {"_id": "missing"}, {"_id": "x", "f": "x"}, {"_id": "empty", "f": ""}]


@gen_test
async def test_trap_count_documents_with_none_counts_a_missing_field_but_not_a_stored_none(db_url):
    async with connected(db_url) as db:
        await db.t.insert_many([dict(d) for d in NULLS])
        assert await db.t.count_documents({"f": None}) == 1
        assert await db.t.count_documents({"_id": "stored_none", "f": None}) == 0
        # find() (and find_one_and_update) match both, as MongoDB does
        assert {d["_id"] for d in await db.t.find({"f": None}).to_list()} == {"stored_none", "missing"}


@gen_test
async def test_trap_ne_in_a_write_filter_matches_neither_a_stored_none_nor_a_missing_field(db_url):
    async with connected(db_url) as db:
        await db.t.insert_many([dict(d) for d in NULLS])
        for _id in ("stored_none", "missing"):
            assert await db.t.find_one_and_update({"_id": _id, "f": {"$ne": "x"}}, {"$set": {"g": 1}}) is None
            assert (await db.t.update_one({"_id": _id, "f": {"$ne": "x"}}, {"$set": {"g": 1}})).matched_count == 0
        assert await db.t.find_one_and_update({"_id": "empty", "f": {"$ne": "x"}}, {"$set": {"g": 1}})
        # reads still match both, as MongoDB does
        assert await db.t.count_documents({"f": {"$ne": "x"}}) == 3


@gen_test
async def test_trap_ne_against_an_array_matches_even_a_listed_value_but_nin_does_not(db_url):
    """So "not one of these keys" is `{"keys": {"$nin": [key]}}` (domain.bidding.repeat_key)."""
    async with connected(db_url) as db:
        await db.lots.insert_one({"_id": "l", "keys": ["u1:c1"], "n": 0})
        ne = await db.lots.update_one({"_id": "l", "keys": {"$ne": "u1:c1"}}, {"$inc": {"n": 1}})
        nin = await db.lots.update_one({"_id": "l", "keys": {"$nin": ["u1:c1"]}}, {"$inc": {"n": 1}})
        other = await db.lots.update_one({"_id": "l", "keys": {"$nin": ["u1:c2"]}}, {"$inc": {"n": 1}})
        assert (ne.modified_count, nin.modified_count, other.modified_count) == (1, 0, 1)


@gen_test
async def test_trap_find_one_and_update_upsert_ignores_set_on_insert(db_url):
    async with connected(db_url) as db:  # update_one(upsert=True) honours it
        doc = await db.t.find_one_and_update(
            {"_id": "a"}, {"$set": {"n": 1}, "$setOnInsert": {"created_at": 5}},
            upsert=True, return_document=ReturnDocument.AFTER)
        assert doc == {"_id": "a", "n": 1}
        await db.t.update_one({"_id": "b"}, {"$set": {"n": 1}, "$setOnInsert": {"created_at": 5}}, upsert=True)
        assert await db.t.find_one({"_id": "b"}) == {"_id": "b", "n": 1, "created_at": 5}


@gen_test
async def test_trap_a_pushed_sub_document_is_stored_as_a_json_string(db_url):
    async with connected(db_url) as db:
        await db.t.insert_one({"_id": "a", "history": []})
        await db.t.update_one({"_id": "a"}, {"$push": {"history": {"k": 1}}})
        assert (await db.t.find_one({"_id": "a"}))["history"] == ['{"k":1}']


@gen_test
async def test_trap_a_boolean_written_by_set_reads_back_as_an_integer(db_url):
    async with connected(db_url) as db:
        await db.t.insert_one({"_id": "a", "flag": True})
        await db.t.update_one({"_id": "a"}, {"$set": {"flag": False}})
        assert (await db.t.find_one({"_id": "a"}))["flag"] == 0
        assert (await db.t.find_one({"_id": "a"}))["flag"] is not False


# --- the embedded store's lifecycle --------------------------------------------------------

@gen_test
async def test_acknowledged_writes_survive_kill_9_of_the_store(tmp_path):
    first = EmbeddedStore(tmp_path)
    url = await first.start()
    async with connected(url) as db:
        await db.lots.insert_one({"_id": "l", "price": 100, "steps": STEPS})
        await db.lots.update_one({"_id": "l"}, {"$inc": {"price": 50}})
        await db.lots.find_one_and_update({"_id": "l"}, {"$set": {"leader": "u1"}})
        os.kill(first.pid, signal.SIGKILL)
    second = EmbeddedStore(tmp_path)  # the pid file left behind names a dead process
    try:
        async with connected(await second.start()) as db:
            assert await db.lots.find_one({"_id": "l"}) == {
                "_id": "l", "price": 150, "steps": STEPS, "leader": "u1"}
    finally:
        await second.stop()
        await first.stop()


@gen_test
async def test_start_then_stop_leaves_no_process_and_no_pid_file(tmp_path):
    store = EmbeddedStore(tmp_path)
    url = await store.start()
    assert url == f"mongodb://127.0.0.1:{store.port}/gavel"
    pid = store.pid
    assert (tmp_path / "mongo.pid").read_text().strip() == str(pid)
    assert (tmp_path / "mongo").is_dir()
    await store.stop()
    assert not pid_alive(pid)
    assert not (tmp_path / "mongo.pid").exists()
    await store.stop()  # idempotent


@gen_test
async def test_a_stale_store_left_on_our_directory_is_stopped_before_a_restart(tmp_path):
    crashed = EmbeddedStore(tmp_path)  # stands for a run whose server died without stopping it
    await crashed.start()
    restarted = EmbeddedStore(tmp_path)
    try:
        await restarted.start()
        assert await wait_gone(crashed.pid, 0)
        assert (tmp_path / "mongo.pid").read_text().strip() == str(restarted.pid)
    finally:
        await crashed.stop()
        await restarted.stop()


@gen_test
async def test_a_pid_file_naming_an_unrelated_live_process_is_replaced_without_killing_it(tmp_path):
    (tmp_path / "mongo.pid").write_text(str(os.getpid()))
    store = EmbeddedStore(tmp_path)
    try:
        await store.start()
        assert (tmp_path / "mongo.pid").read_text().strip() == str(store.pid)
    finally:
        await store.stop()


@gen_test
async def test_start_fails_with_the_log_tail_when_the_store_exits_early(tmp_path):
    fake = tmp_path / "fake-store"
    fake.write_text("#!/bin/sh\necho 'cannot open the database' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedStoreError, match="cannot open the database"):
        await EmbeddedStore(tmp_path, executable=str(fake)).start()


OWNER = textwrap.dedent("""
    import asyncio, signal, sys, time
    from pathlib import Path
    from server.embedded_store import EmbeddedStore
    store = EmbeddedStore(Path(sys.argv[1]))
    asyncio.run(store.start())
    signal.signal(signal.SIGINT, lambda *_: print("interrupted", flush=True))
    print(store.pid, store.url, flush=True)
    while True:
        time.sleep(60)
""")


async def start_owner(tmp_path):
    """A process that starts a store and sleeps, in its own process group
    like a server run from a terminal; returns (owner, store pid, store url)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = await asyncio.get_running_loop().run_in_executor(None, owner.stdout.readline)
    pid, _, url = line.strip().partition(" ")
    assert pid.isdigit() and url.startswith("mongodb://"), f"owner printed {line!r}"
    return owner, int(pid), url


@gen_test
async def test_kill_9_of_the_owner_leaves_no_orphan_store(tmp_path):
    owner, store_pid, _ = await start_owner(tmp_path)
    assert pid_alive(store_pid)
    owner.kill()
    owner.wait()
    assert await wait_gone(store_pid, 5)


@gen_test
async def test_ctrl_c_in_the_terminal_reaches_the_owner_but_not_the_store(tmp_path):
    owner, store_pid, url = await start_owner(tmp_path)
    try:
        os.killpg(owner.pid, signal.SIGINT)
        line = await asyncio.get_running_loop().run_in_executor(None, owner.stdout.readline)
        assert line.strip() == "interrupted"
        await asyncio.sleep(0.3)  # what a store hit by the SIGINT would need to exit
        async with connected(url, serverSelectionTimeoutMS=2000) as db:
            assert await db.command("ping") == {"ok": 1}
    finally:
        owner.kill()
        owner.wait()
    assert await wait_gone(store_pid, 5)
