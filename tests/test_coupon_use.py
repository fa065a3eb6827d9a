"""What a payment does with a coupon (the three functions it uses, and
nothing else of coupons), races for one coupon, a claim a crash cut short,
and a session coupon following its session's end: the domain against the
real store, no server."""
import asyncio
import time
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest

from domain import auctions, coupons, lots
from domain.errors import CouponUnavailable
from domain.rules import DAY_MS, Rules
from helpers import EventRecorder, database
from server.db import ensure_indexes

pytestmark = pytest.mark.gen_test(timeout=30)
RULES = Rules(coupon_expire_seconds=3600)
HOUR = 3600 * 1000


@asynccontextmanager
async def fresh_store(base_url: str):
    """A database of its own on the session's store, with the server's indexes."""
    async with database(f"{base_url}/gavel_coupon_use_{uuid4().hex[:12]}") as db:
        await ensure_indexes(db)
        yield db


def now_ms() -> int:
    return time.time_ns() // 10**6


async def session_with_lot(db) -> tuple[dict, dict]:
    now = now_ms()
    auction = await auctions.create(db, EventRecorder(), {
        "title": "专场", "preview_start": now + HOUR, "preview_end": now + HOUR, "auction_start": now + HOUR,
        "auction_end": now + 2 * HOUR}, now)
    lot = await lots.create(db, EventRecorder(), auction["_id"], {"title": "茶盏", "start_price": 10000}, now)
    return auction, lot


async def claimed(db, user_id: str, **terms) -> dict:
    """A user coupon claimed through the domain's own steps."""
    now = now_ms()
    fields = {"title": "券", "kind": "cash", "value": 2000, "count": 5, "valid_days": 7,
              "claim_start": now, "claim_end": now + HOUR, **terms}
    coupon = await coupons.create(db, EventRecorder(), fields, now, RULES)
    await coupons.advance(db, EventRecorder(), coupon["_id"], now)
    uc, _ = await coupons.claim(db, EventRecorder(), {"_id": user_id}, coupon["_id"], now)
    return uc


def order_for(user_id: str, auction: dict, lot: dict, price: int = 30000) -> dict:
    return {"_id": "O", "user_id": user_id, "auction_id": auction["_id"], "lot_id": lot["_id"], "price": price}


async def test_the_usable_coupons_of_an_order_apply_to_it_and_say_what_each_takes_off(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        other, _ = await session_with_lot(db)
        now = now_ms()
        kept = [await claimed(db, "u", title="通用 20 元", value=2000),
                await claimed(db, "u", title="本场 50 元", scope="auction", auction_id=auction["_id"], value=5000),
                await claimed(db, "u", title="本件满 300 减 80", scope="lot", lot_id=lot["_id"], kind="threshold",
                              value=8000, min_spend=30000),
                await claimed(db, "u", title="88 折", kind="discount", value=88)]
        for left_out in ({"title": "别场", "scope": "auction", "auction_id": other["_id"]},
                         {"title": "满 400", "kind": "threshold", "value": 9000, "min_spend": 40000},
                         {"title": "明天起", "valid_days": 0, "use_start": now + DAY_MS, "use_end": now + 2 * DAY_MS}):
            await claimed(db, "u", **left_out)
        await claimed(db, "someone else", title="别人的", value=9999)
        expired = await claimed(db, "u", title="过期", value=9000)
        await db.user_coupons.update_one({"_id": expired["_id"]}, {"$set": {"expires_at": now}})
        usable = await coupons.usable_for_order(db, order_for("u", auction, lot), now_ms())
        assert [(u.user_coupon["title"], u.amount) for u in usable] == [
            ("本件满 300 减 80", 8000), ("本场 50 元", 5000), ("88 折", 3600), ("通用 20 元", 2000)]
        assert {u.user_coupon["_id"] for u in usable} == {uc["_id"] for uc in kept}


async def test_two_payments_racing_for_one_coupon_one_gets_it(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        order = order_for("u", auction, lot)
        for _ in range(10):
            uc = await claimed(db, "u")
            results = await asyncio.gather(*(coupons.lock_for_payment(db, order, uc["_id"], p, now_ms())
                                             for p in ("P1", "P2")), return_exceptions=True)
            won = [r for r in results if isinstance(r, coupons.Usable)]
            assert len(won) == 1 and won[0].amount == 2000
            assert [type(r) for r in results if r not in won] == [CouponUnavailable]
            held = await db.user_coupons.find_one({"_id": uc["_id"]})
            assert (held["status"], held["payment_id"]) == ("locked", won[0].user_coupon["payment_id"])


async def test_only_the_payment_holding_a_coupon_gives_it_back_or_spends_it_and_a_repeat_is_harmless(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        order, now = order_for("u", auction, lot), now_ms()
        uc = await claimed(db, "u")
        await coupons.lock_for_payment(db, order, uc["_id"], "P1", now)
        assert (await coupons.lock_for_payment(db, order, uc["_id"], "P1", now)).amount == 2000  # the same answer
        assert await coupons.release_from_payment(db, uc["_id"], "P2", now) is None
        with pytest.raises(CouponUnavailable):
            await coupons.spend_for_order(db, uc["_id"], "P2", "O", now)
        assert (await coupons.release_from_payment(db, uc["_id"], "P1", now))["status"] == "unused"
        assert await coupons.release_from_payment(db, uc["_id"], "P1", now) is None
        await coupons.lock_for_payment(db, order, uc["_id"], "P3", now)
        spent = await coupons.spend_for_order(db, uc["_id"], "P3", "O", now)
        assert (spent["status"], spent["order_id"], spent["used_at"]) == ("used", "O", now)
        assert await coupons.spend_for_order(db, uc["_id"], "P3", "O", now) == spent
        assert await coupons.release_from_payment(db, uc["_id"], "P3", now) is None
        assert (await db.user_coupons.find_one({"_id": uc["_id"]}))["status"] == "used"


async def test_a_payment_closing_as_it_completes_either_gives_the_coupon_back_or_spends_it(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        order = order_for("u", auction, lot)
        for _ in range(10):
            uc = await claimed(db, "u")
            await coupons.lock_for_payment(db, order, uc["_id"], "P", now_ms())
            released, spent = await asyncio.gather(coupons.release_from_payment(db, uc["_id"], "P", now_ms()),
                                                   coupons.spend_for_order(db, uc["_id"], "P", "O", now_ms()),
                                                   return_exceptions=True)
            final = (await db.user_coupons.find_one({"_id": uc["_id"]}))["status"]
            assert (final, type(spent)) in (("unused", CouponUnavailable), ("used", dict))
            assert (released is None) == (final == "used")


async def test_a_coupon_that_is_not_the_buyers_or_does_not_apply_is_not_locked(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        other, _ = await session_with_lot(db)
        theirs = await claimed(db, "v")
        elsewhere = await claimed(db, "u", scope="auction", auction_id=other["_id"])
        too_small = await claimed(db, "u", kind="threshold", value=5000, min_spend=50000)
        for uc in (theirs, elsewhere, too_small):
            with pytest.raises(CouponUnavailable):
                await coupons.lock_for_payment(db, order_for("u", auction, lot), uc["_id"], "P", now_ms())
            assert (await db.user_coupons.find_one({"_id": uc["_id"]}))["status"] == "unused"


async def test_a_coupon_given_back_after_its_end_expires_at_once(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, lot = await session_with_lot(db)
        uc = await claimed(db, "u")
        await coupons.lock_for_payment(db, order_for("u", auction, lot), uc["_id"], "P", now_ms())
        later = uc["expires_at"] + 1
        assert await coupons.expire_due(db, later) == 0  # a locked coupon waits for its payment
        released = await coupons.release_from_payment(db, uc["_id"], "P", later)
        assert (released["status"], released["expired_at"]) == ("expired", later)


class CountNeverAnswers:
    """The store, except that the coupon's count write never comes back: a
    crash between a claim's insert and its count."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    @property
    def coupons(self):
        collection = self._db.coupons

        class Coupons:
            def __getattr__(self, name):
                return getattr(collection, name)

            async def find_one_and_update(self, *args, **kwargs):
                raise ConnectionError("the node died")
        return Coupons()


async def test_a_claim_cut_short_by_a_crash_is_undone_or_finished_by_the_sweep(mongo_base_url, monkeypatch):
    async with fresh_store(mongo_base_url) as db:
        now = now_ms()
        fields = {"title": "券", "kind": "cash", "value": 100, "count": 5, "valid_days": 1, "claim_start": now,
                  "claim_end": now + HOUR}
        coupon = await coupons.create(db, EventRecorder(), fields, now, RULES)
        await coupons.advance(db, EventRecorder(), coupon["_id"], now)
        with pytest.raises(ConnectionError):  # cut off before its count: stored pending, not counted
            await coupons.claim(CountNeverAnswers(db), EventRecorder(), {"_id": "early"}, coupon["_id"], now)

        async def crash(*args):
            raise ConnectionError("the node died")
        monkeypatch.setattr(coupons, "_settle", crash)  # cut off after its count
        with pytest.raises(ConnectionError):
            await coupons.claim(db, EventRecorder(), {"_id": "late"}, coupon["_id"], now)
        monkeypatch.undo()
        statuses = {uc["user_id"]: uc["status"] async for uc in db.user_coupons.find({"coupon_id": coupon["_id"]})}
        assert statuses == {"early": "pending", "late": "pending"}
        await coupons.recover_claims(db, now + 1000)  # still in flight, perhaps: left alone
        assert await db.user_coupons.count_documents({"coupon_id": coupon["_id"], "status": "pending"}) == 2
        await coupons.recover_claims(db, now + coupons.STALE_CLAIM_MS + 1)
        statuses = {uc["user_id"]: uc["status"] async for uc in db.user_coupons.find({"coupon_id": coupon["_id"]})}
        assert statuses == {"late": "unused"}
        after = await db.coupons.find_one({"_id": coupon["_id"]})
        assert (after["claimed"], after["remaining"], after["counting"]) == (1, 4, {})
        uc, left = await coupons.claim(db, EventRecorder(), {"_id": "early"}, coupon["_id"], now_ms())
        assert (uc["status"], left) == ("unused", 3)


async def test_a_session_coupon_ends_a_delay_after_its_session_and_follows_an_edit_of_its_end(mongo_base_url):
    async with fresh_store(mongo_base_url) as db:
        auction, _ = await session_with_lot(db)
        uc = await claimed(db, "u", scope="auction", auction_id=auction["_id"], valid_days=0)
        assert uc["expires_at"] == auction["auction_end"] + HOUR
        capped = await claimed(db, "u", scope="auction", auction_id=auction["_id"], valid_days=0,
                               use_start=now_ms(), use_end=auction["auction_end"])
        assert capped["expires_at"] == auction["auction_end"]
        later = {"auction_end": auction["auction_end"] + HOUR}
        await auctions.update(db, EventRecorder(), auction["_id"], later, now_ms())
        await coupons.follow_sessions(db, RULES)
        assert (await db.user_coupons.find_one({"_id": uc["_id"]}))["expires_at"] == auction["auction_end"] + 2 * HOUR
        assert (await db.user_coupons.find_one({"_id": capped["_id"]}))["expires_at"] == auction["auction_end"]
