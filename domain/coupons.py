"""Coupons (优惠券): operators create them, timers open and close the
claiming, bidders claim them, and a payment locks, gives back or spends one.

A coupon goes `pending → claiming → ended` by its timers (`advance`), each a
conditional move; it can be edited only while `pending` and is deleted
logically. Its changes publish `coupon_changed` (its timers are re-derived)
and its moves and claims publish `coupon` (the claim centre's watchers and
the expiry timer follow them).

The claim, "never more than `count`, never two per user", on any number of
nodes and without transactions (docs/rules.md, "Atomicity without
transactions"):
1. the user coupon is inserted `pending`: the unique index on
   (coupon_id, user_id) lets one claim per user through;
2. one conditional write on the coupon takes one from `remaining` and
   notes the claim in `counting` (a map of the claims counted but not yet
   settled): `remaining > 0`, so never more than the count;
3. the user coupon `pending → unused`; 4. the note is removed.
A refused step 2 deletes the pending claim, so a refused claim leaves
nothing. The recovery sweep (`recover_claims`) finishes a claim a crash cut
short: noted → `unused`; not noted → deleted (the user never had an answer).
"""
from typing import NamedTuple

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain import audit
from domain.coupon_value import (TERMS, amount_off, applies_to, check_terms, expiry, session_end,
                                 valid_until)
from domain.errors import (Conflict, CouponAlreadyClaimed, CouponSoldOut, CouponUnavailable, NotFound,
                           OutOfRange)
from domain.ids import new_id
from domain.rules import Rules
from domain.states import COUPON, USER_COUPON, move

STALE_CLAIM_MS = 60_000  # a claim still pending after this long was cut off by a crash
GROUPS = ("unused", "used", "expired")  # my coupons; a locked one shows among the unused


class Usable(NamedTuple):
    """A user coupon and what it takes off an order's price."""
    user_coupon: dict
    amount: int


def state(coupon: dict) -> dict:
    """What the claim centre's watchers are told of a coupon."""
    return {"coupon": coupon["_id"], "status": coupon["status"], "remaining": coupon["remaining"],
            "claimed": coupon["claimed"], "count": coupon["count"], "deleted": bool(coupon["deleted_at"])}


def changed(coupon: dict) -> dict:
    return {"type": "coupon_changed", **state(coupon)}


# --- operators ------------------------------------------------------------------
async def _scope(db, doc: dict, rules: Rules) -> dict:
    """The scope's ids as stored, and its session's end (0 for a general coupon)."""
    scope, auction_id, lot_id = doc["scope"], doc["auction_id"], doc["lot_id"]
    if scope == "general":
        if auction_id or lot_id:
            raise OutOfRange("a general coupon names no session or lot")
        return {"auction_id": "", "lot_id": "", "session_end": 0}
    if scope == "lot":
        lot = await db.lots.find_one({"_id": lot_id, "deleted_at": 0}, {"auction_id": 1}) if lot_id else None
        if lot_id and not lot:
            raise NotFound("no such lot")
        if not lot or auction_id not in ("", lot["auction_id"]):
            raise OutOfRange("a lot coupon names lot_id (its session is the lot's)")
        auction_id = lot["auction_id"]
    elif not auction_id or lot_id:
        raise OutOfRange("a session coupon names auction_id and no lot_id")
    auction = await db.auctions.find_one({"_id": auction_id, "deleted_at": 0})
    if not auction:
        raise NotFound("no such auction")
    return {"auction_id": auction_id, "lot_id": lot_id if scope == "lot" else "",
            "session_end": session_end(auction, rules)}


def _normalised(fields: dict) -> dict:
    """A use window left out or sent as null is stored as 0: no window."""
    return {**fields, **{f: fields[f] or 0 for f in ("use_start", "use_end") if f in fields}}


async def create(db, events, fields: dict, now: int, rules: Rules) -> dict:
    doc = {"cover": "", "scope": "general", "auction_id": "", "lot_id": "", "min_spend": 0, "max_off": 0,
           "use_start": 0, "use_end": 0, "valid_days": 0, **_normalised(fields)}
    check_terms(doc, now)
    doc.update(await _scope(db, doc, rules))
    doc.update(_id=new_id(), status="pending", claimed=0, remaining=doc["count"], counting={}, deleted_at=0,
               created_at=now, updated_at=now)
    await db.coupons.insert_one(doc)
    await events.publish(changed(doc))
    return doc


async def get(db, coupon_id: str) -> dict:
    doc = await db.coupons.find_one({"_id": coupon_id, "deleted_at": 0}, {"counting": 0})
    if not doc:
        raise NotFound("no such coupon")
    return doc


async def update(db, events, coupon_id: str, fields: dict, now: int, rules: Rules) -> dict:
    """Edit a coupon before its claiming starts (its timers follow the event)."""
    current = await get(db, coupon_id)
    fields = _normalised(fields)
    rescoped = {"auction_id": "", "lot_id": ""} if "scope" in fields else {}  # the old scope's ids go with it
    merged = {**current, **rescoped, **fields}
    check_terms(merged, now)
    doc = await db.coupons.find_one_and_update(
        {"_id": coupon_id, "deleted_at": 0, "status": "pending"},
        {"$set": {**fields, **await _scope(db, merged, rules), "remaining": merged["count"], "updated_at": now}},
        projection={"counting": 0}, return_document=ReturnDocument.AFTER)
    if not doc:
        raise Conflict("a coupon can be edited only before its claiming starts")
    await events.publish(changed(doc))
    return doc


async def delete(db, events, coupon_id: str, now: int) -> None:
    """Delete logically: it leaves the claim centre and its timers are cancelled;
    the coupons already claimed stay the users'."""
    doc = await db.coupons.find_one_and_update({"_id": coupon_id, "deleted_at": 0}, {"$set": {"deleted_at": now}},
                                               projection={"counting": 0}, return_document=ReturnDocument.AFTER)
    if not doc:
        raise NotFound("no such coupon")
    await events.publish(changed(doc))


async def listing(db, status: str = "", scope: str = "") -> list[dict]:
    query = {"deleted_at": 0, **({"status": status} if status else {}), **({"scope": scope} if scope else {})}
    return await db.coupons.find(query, {"counting": 0}).sort("created_at", -1).to_list(None)


async def scope_titles(db, coupons: list[dict]) -> dict[str, str]:
    """Coupon id → the title of its session or lot ("" for a general one)."""
    wanted: dict[str, set] = {"auctions": set(), "lots": set()}
    for c in coupons:
        if c["scope"] != "general":
            wanted["lots" if c["lot_id"] else "auctions"].add(c["lot_id"] or c["auction_id"])
    titles = {}
    for collection, ids in wanted.items():
        if ids:
            titles.update({d["_id"]: d["title"] async for d in db[collection].find({"_id": {"$in": list(ids)}},
                                                                                   {"title": 1})})
    return {c["_id"]: titles.get(c["lot_id"] or c["auction_id"], "") for c in coupons}


# --- the timers ---------------------------------------------------------------------
async def advance(db, events, coupon_id: str, now: int) -> None:
    """Bring a coupon to where the clock says it should be: claiming from
    claim_start, ended from claim_end, each move once."""
    coupon = await db.coupons.find_one({"_id": coupon_id, "deleted_at": 0}, {"counting": 0})
    for to, since in (("claiming", "claim_start"), ("ended", "claim_end")):
        if coupon and now >= coupon[since]:
            moved = await move(db.coupons, COUPON, {"_id": coupon_id, "deleted_at": 0}, to, set={f"{to}_at": now})
            if moved:
                coupon = moved
                await audit.record(db, coupon_id, to, now)
                await events.publish({"type": "coupon", **state(moved)})


async def expire_due(db, now: int) -> int:
    """Every unused user coupon past its end `expired`; the next end to come (0: none)."""
    async for uc in db.user_coupons.find({"expires_at": {"$lte": now}, "status": "unused"}, {"_id": 1}):
        await move(db.user_coupons, USER_COUPON, {"_id": uc["_id"], "expires_at": {"$lte": now}}, "expired",
                   set={"expired_at": now})
    return await next_expiry(db, now)


async def next_expiry(db, after: int) -> int:
    """The first end after `after` of a user coupon that may still expire (a
    locked one too: its payment may give it back)."""
    ends = []
    for status in ("unused", "locked"):  # not $in: the store's planner would scan
        doc = await db.user_coupons.find_one({"status": status, "expires_at": {"$gt": after}}, {"expires_at": 1},
                                             sort=[("expires_at", 1)])
        ends += [doc["expires_at"]] if doc else []
    return min(ends, default=0)


# --- the claim centre -----------------------------------------------------------
async def centre(db) -> list[dict]:
    """Every coupon not pending and not deleted, the claimable first."""
    found = await db.coupons.find({"deleted_at": 0, "status": {"$ne": "pending"}}, {"counting": 0}).to_list(None)
    return sorted(found, key=lambda c: (c["status"] != "claiming", -c["claim_start"]))


async def held_by(db, user_id: str) -> set[str]:
    """The coupons a user holds one of, whatever became of it."""
    return {uc["coupon_id"] async for uc in db.user_coupons.find({"user_id": user_id}, {"coupon_id": 1, "status": 1})
            if uc["status"] != "pending"}


async def claim(db, events, user: dict, coupon_id: str, now: int) -> tuple[dict, int]:
    """One coupon for the user: the user coupon `unused`, and what remains."""
    coupon = await db.coupons.find_one({"_id": coupon_id}, {"counting": 0})
    if not coupon:
        raise NotFound("no such coupon")
    if coupon["deleted_at"]:
        raise CouponUnavailable("this coupon has been withdrawn")
    if coupon["status"] != "claiming" or now >= coupon["claim_end"]:
        raise CouponUnavailable(f"this coupon is not being given out ({coupon['status']})")
    if coupon["remaining"] <= 0:
        raise CouponSoldOut("every one of this coupon has been claimed")
    own_end = valid_until(coupon, now)
    expires_at = expiry(own_end, coupon["session_end"])
    if expires_at <= now:
        raise CouponUnavailable("this coupon can no longer be used")
    uc = {"_id": new_id(), "coupon_id": coupon_id, "user_id": user["_id"], "status": "pending",
          **{f: coupon[f] for f in TERMS}, "claimed_at": now, "valid_until": own_end, "expires_at": expires_at,
          "payment_id": "", "locked_at": 0, "order_id": "", "used_at": 0, "expired_at": 0}
    try:
        await db.user_coupons.insert_one(uc)
    except DuplicateKeyError:
        raise CouponAlreadyClaimed("you hold this coupon already") from None
    counted = await db.coupons.find_one_and_update(
        {"_id": coupon_id, "deleted_at": 0, "status": "claiming", "claim_end": {"$gt": now}, "remaining": {"$gt": 0}},
        {"$inc": {"remaining": -1, "claimed": 1}, "$set": {f"counting.{uc['_id']}": now}},
        projection={"counting": 0}, return_document=ReturnDocument.AFTER)
    if not counted:
        await db.user_coupons.delete_one({"_id": uc["_id"], "status": "pending"})
        latest = await db.coupons.find_one({"_id": coupon_id}, {"counting": 0})
        if not latest["deleted_at"] and latest["status"] == "claiming" and latest["remaining"] <= 0:
            raise CouponSoldOut("every one of this coupon has been claimed")
        raise CouponUnavailable(f"this coupon is not being given out ({latest['status']})")
    uc = await _settle(db, uc["_id"], coupon_id)
    await events.publish({"type": "coupon", **state(counted), "expires_at": expires_at})
    return uc, counted["remaining"]


async def _settle(db, uc_id: str, coupon_id: str) -> dict:
    """A counted claim's user coupon `unused`, then its note on the coupon gone."""
    uc = await move(db.user_coupons, USER_COUPON, {"_id": uc_id}, "unused", "pending")
    await db.coupons.update_one({"_id": coupon_id}, {"$unset": {f"counting.{uc_id}": ""}})
    return uc or await db.user_coupons.find_one({"_id": uc_id})


async def recover_claims(db, now: int) -> None:
    """For the recovery sweep: finish or undo the claims a crash cut short."""
    async for uc in db.user_coupons.find({"status": "pending", "claimed_at": {"$lt": now - STALE_CLAIM_MS}},
                                         {"coupon_id": 1}):
        if await db.coupons.find_one({"_id": uc["coupon_id"], f"counting.{uc['_id']}": {"$exists": True}}, {"_id": 1}):
            await _settle(db, uc["_id"], uc["coupon_id"])
        else:
            await db.user_coupons.delete_one({"_id": uc["_id"], "status": "pending"})
    async for coupon in db.coupons.find({"status": {"$ne": "pending"}}, {"counting": 1}):
        for uc_id in coupon["counting"]:  # settled, but the note outlived a crash
            if await db.user_coupons.find_one({"_id": uc_id, "status": {"$ne": "pending"}}, {"_id": 1}):
                await db.coupons.update_one({"_id": coupon["_id"]}, {"$unset": {f"counting.{uc_id}": ""}})


async def follow_sessions(db, rules: Rules) -> None:
    """For the recovery sweep: a session's end moved (an edit, or a late end)
    since its coupons were made: they, and the coupons claimed of them, follow."""
    async for coupon in db.coupons.find({"scope": {"$ne": "general"}}, {"auction_id": 1, "session_end": 1}):
        auction = await db.auctions.find_one({"_id": coupon["auction_id"]}, {"auction_end": 1, "ended_at": 1})
        ends = session_end(auction, rules)
        if ends == coupon["session_end"]:
            continue
        for status in ("unused", "locked"):
            async for uc in db.user_coupons.find({"coupon_id": coupon["_id"], "status": status},
                                                 {"valid_until": 1, "expires_at": 1}):
                await db.user_coupons.update_one({"_id": uc["_id"], "status": status},
                                                 {"$set": {"expires_at": expiry(uc["valid_until"], ends)}})
        await db.coupons.update_one({"_id": coupon["_id"]}, {"$set": {"session_end": ends}})


async def of_user(db, user_id: str) -> dict[str, list[dict]]:
    """My coupons, newest first, grouped: unused (and locked), used, expired."""
    groups: dict[str, list[dict]] = {g: [] for g in GROUPS}
    async for uc in db.user_coupons.find({"user_id": user_id}).sort("claimed_at", -1):
        if uc["status"] != "pending":
            groups["unused" if uc["status"] == "locked" else uc["status"]].append(uc)
    return groups


# --- what the payment of an order uses, and nothing else ------------------------------------
async def usable_for_order(db, order: dict, now: int) -> list[Usable]:
    """The buyer's coupons that apply to `order` now, with the cents each
    takes off its price (never more than the price), the most valuable first."""
    out = []
    async for uc in db.user_coupons.find({"user_id": order["user_id"], "status": "unused"}):
        if uc["expires_at"] > now and uc["use_start"] <= now and applies_to(uc, order):
            amount = amount_off(uc, order["price"])
            if amount:
                out.append(Usable(uc, amount))
    return sorted(out, key=lambda u: (-u.amount, u.user_coupon["expires_at"]))


async def lock_for_payment(db, order: dict, user_coupon_id: str, payment_id: str, now: int) -> Usable:
    """Reserve one of the buyer's coupons for a payment of `order`
    (`unused → locked`): of two payments racing for it, one gets it. Asked
    again by the same payment, the same answer. CouponUnavailable when it is
    not the buyer's, does not apply, or is used, expired or held elsewhere."""
    uc = await db.user_coupons.find_one({"_id": user_coupon_id, "user_id": order["user_id"]})
    if not uc or not applies_to(uc, order) or not amount_off(uc, order["price"]):
        raise CouponUnavailable("this coupon does not apply to this order")
    locked = await move(db.user_coupons, USER_COUPON,
                        {"_id": user_coupon_id, "expires_at": {"$gt": now}, "use_start": {"$lte": now}}, "locked",
                        "unused", set={"payment_id": payment_id, "locked_at": now})
    locked = locked or await db.user_coupons.find_one({"_id": user_coupon_id, "status": "locked",
                                                      "payment_id": payment_id})
    if not locked:
        raise CouponUnavailable("this coupon is used, expired or held by another payment")
    return Usable(locked, amount_off(locked, order["price"]))


async def release_from_payment(db, user_coupon_id: str, payment_id: str, now: int) -> dict | None:
    """Give a coupon back when its payment closes (`locked → unused`), only
    by the payment that holds it; one already past its end expires at once.
    None when this payment did not hold it (a repeat changes nothing)."""
    uc = await move(db.user_coupons, USER_COUPON, {"_id": user_coupon_id, "payment_id": payment_id}, "unused",
                    "locked", set={"payment_id": ""})
    if uc and uc["expires_at"] <= now:
        uc = await move(db.user_coupons, USER_COUPON, {"_id": user_coupon_id}, "expired", "unused",
                        set={"expired_at": now}) or uc
    return uc


async def spend_for_order(db, user_coupon_id: str, payment_id: str, order_id: str, now: int) -> dict:
    """The payment that holds the coupon completed: `locked → used` with the
    order. Asked again, the same answer; CouponUnavailable if this payment
    does not hold it."""
    uc = await move(db.user_coupons, USER_COUPON, {"_id": user_coupon_id, "payment_id": payment_id}, "used",
                    "locked", set={"order_id": order_id, "used_at": now})
    uc = uc or await db.user_coupons.find_one({"_id": user_coupon_id, "status": "used", "order_id": order_id,
                                               "payment_id": payment_id})
    if not uc:
        raise CouponUnavailable("this coupon is not held by this payment")
    return uc
