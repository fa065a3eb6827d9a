"""Deposits (保证金): a lot deposit (单品) or a session deposit (全场) a bidder
pays before bidding, held until the auction decides what happens to it
(refunds.py gives it back, overdue.py forfeits it, an order's payment uses it).

"One paid deposit per user per lot / per session" is a unique index on
`scope` (`{user}:lot:{lot_id}` or `{user}:auction:{auction_id}`), a field
that is always present:
- a balance payment claims the scope with its first write (the deposit,
  still `unpaid`), then debits the ledger (key `deposit:{id}`), then marks
  itself paid; a second payment for the same scope is refused before any
  money moves. A refused debit deletes the claim, so nothing changes.
- a gateway deposit waits for its notification with a scope of its own
  (`{scope}#{id}`), so an abandoned one never blocks paying again; it takes
  the real scope when it is paid, and if another deposit took it meanwhile,
  the money just received is refunded at once.
"""
import asyncio

from pymongo.errors import DuplicateKeyError

from domain import paddles, refunds, wallet
from domain.clock import to_iso
from domain.errors import AmountMismatch, Conflict, Forbidden, InsufficientBalance, NotFound
from domain.ids import new_id, readable_serial
from domain.states import DEPOSIT, DEPOSIT_MONEY, LOT_OPEN, move

GATEWAYS = ("wechat", "alipay")
STALE_CLAIM_MS = 5 * 60 * 1000  # a balance claim older than this, with no debit, was cut off by a crash


def scope_key(user_id: str, auction_id: str, lot_id: str = "") -> str:
    return f"{user_id}:lot:{lot_id}" if lot_id else f"{user_id}:auction:{auction_id}"


def deposit_event(doc: dict) -> dict:
    """Announced when an order's payment uses a deposit or sends its rest back:
    every node forgets that it covers its lot or session (domain/bid_cache.py)."""
    return {"type": "deposit", "deposit": doc["_id"], "user": doc["user_id"], "auction": doc["auction_id"],
            "lot": doc["lot_id"], "kind": doc["kind"], "state": doc["state"], "remaining": doc["remaining"]}


async def covering_deposit(db, user_id: str, lot: dict) -> dict | None:
    """The user's paid deposit that lets them bid on `lot`: a lot deposit for
    it or a session deposit for its session, held (or held by a payment under
    way) with something left of it (the earliest paid, so a deposit paid after
    the close never replaces the one that was bid on)."""
    keys = [scope_key(user_id, lot["auction_id"], lot["_id"]), scope_key(user_id, lot["auction_id"])]
    # One equality read per key, the rest checked here: the embedded store uses
    # no index for `$in` (but on _id), may pick a less selective one, scans to sort.
    found = await asyncio.gather(*(db.deposits.find_one({"scope": key}) for key in keys))
    held = [d for d in found if d and d["status"] == "paid" and d["state"] in ("held", "using") and d["remaining"]]
    return min(held, key=lambda d: d["paid_at"], default=None)


async def _target(db, user: dict, auction_id: str, lot_id: str, now: int) -> tuple[dict, dict | None]:
    """The session (and lot) a new deposit is for, if it may still be paid."""
    if user.get("banned_until", 0) > now:
        raise Forbidden("barred from bidding after an unpaid order", banned_until=to_iso(user["banned_until"]))
    auction = await db.auctions.find_one({"_id": auction_id, "deleted_at": 0})
    if not auction:
        raise NotFound("no such auction")
    if auction["status"] == "ended":
        raise Conflict("the session has ended")
    if not lot_id:
        return auction, None
    lot = await db.lots.find_one({"_id": lot_id, "auction_id": auction_id, "deleted_at": 0})
    if not lot:
        raise NotFound("no such lot in this session")
    if lot["status"] not in LOT_OPEN:
        raise Conflict("the lot has closed")
    return auction, lot


async def _insert(db, doc: dict, now: int) -> dict:
    """Insert under a fresh readable serial; a taken scope is a Conflict."""
    while True:
        doc["uid"] = readable_serial(now, "D")
        try:
            await db.deposits.insert_one(doc)
            return doc
        except DuplicateKeyError:
            if await db.deposits.find_one({"scope": doc["scope"]}, {"_id": 1}):
                raise Conflict("a deposit for this is already paid or being paid") from None


async def create(db, user: dict, auction_id: str, lot_id: str, pay_type: str, now: int) -> dict:
    """Pay a deposit from the balance (paid at once) or open one that a
    gateway payment completes (`unpaid`; see `confirm_gateway_payment`)."""
    auction, lot = await _target(db, user, auction_id, lot_id, now)
    key = scope_key(user["_id"], auction_id, lot_id)
    if await db.deposits.find_one({"scope": key, "status": "paid"}, {"_id": 1}):
        raise Conflict("a deposit for this is already paid")
    if pay_type in GATEWAYS:
        waiting = await db.deposits.find_one({"user_id": user["_id"], "scope_key": key, "status": "unpaid",
                                              "pay_type": pay_type})
        if waiting:
            return waiting
    deposit_id, amount = new_id(), lot["deposit"] if lot else auction["deposit"]
    doc = {
        "_id": deposit_id, "user_id": user["_id"], "kind": "lot" if lot else "auction",
        "auction_id": auction_id, "lot_id": lot_id or "", "amount": amount, "remaining": amount,
        "scope": key if pay_type == "balance" else f"{key}#{deposit_id}", "scope_key": key,
        "status": "unpaid", "pay_type": pay_type, "state": "", "forfeit_order": "", "use_payment": "",
        "created_at": now, "paid_at": 0, "paddle": await paddles.paddle_for(db, auction_id, user["_id"]), "offer_id": "",
    }
    if pay_type in GATEWAYS:
        return await _insert(db, doc, now)
    return await _pay_from_balance(db, doc, now)


async def _pay_from_balance(db, doc: dict, now: int) -> dict:
    """Claim the deposit's scope, debit the ledger (once, by key), mark it paid;
    a refused debit releases the claim and changes nothing."""
    await _insert(db, doc, now)
    try:
        await wallet.append(db, doc["user_id"], "deposit", -doc["amount"], key=f"deposit:{doc['_id']}", now=now,
                            ref=doc["uid"])
    except InsufficientBalance:
        await db.deposits.delete_one({"_id": doc["_id"], "status": "unpaid"})  # release the claim
        raise
    return await _paid(db, doc, now)


async def pay_for_offer(db, user: dict, lot: dict, offer_id: str, now: int) -> dict:
    """A lot deposit paid from the balance to accept a second-chance offer on
    a lot that has closed: its scope is the offer's (the bidder's refunded
    deposit for the lot keeps the lot's), and paying again for the same
    offer pays once."""
    key = f"{user['_id']}:offer:{offer_id}"
    found = await db.deposits.find_one({"scope": key})
    if found and found["status"] == "paid":
        return found
    if found:  # a claim a crash cut short: the sweep's recover_claims finishes or releases it
        raise Conflict("the deposit for this offer is being paid; try again in a moment")
    doc = {
        "_id": new_id(), "user_id": user["_id"], "kind": "lot", "auction_id": lot["auction_id"], "lot_id": lot["_id"],
        "amount": lot["deposit"], "remaining": lot["deposit"], "scope": key, "scope_key": key, "status": "unpaid",
        "pay_type": "balance", "state": "", "forfeit_order": "", "created_at": now, "paid_at": 0, "offer_id": offer_id,
        "paddle": await paddles.paddle_for(db, lot["auction_id"], user["_id"]),
    }
    return await _pay_from_balance(db, doc, now)


async def _mark_paid(db, deposit_id: str, now: int, **extra) -> dict | None:
    """`unpaid → paid`, its money `"" → held`, in one conditional write."""
    return await move(db.deposits, DEPOSIT, {"_id": deposit_id, **DEPOSIT_MONEY.guard("held")}, "paid",
                      set={"state": "held", "paid_at": now, **extra})


async def _paid(db, doc: dict, now: int) -> dict:
    """Mark a balance deposit paid once its debit is in the ledger."""
    done = await _mark_paid(db, doc["_id"], now)
    if not done:
        done = await db.deposits.find_one({"_id": doc["_id"]})
    if not done:
        # The recovery sweep released the claim while the debit was in flight: give it back.
        await wallet.append(db, doc["user_id"], "refund", doc["amount"], key=f"refund:{doc['_id']}", now=now, ref=doc["uid"])
        raise Conflict("the payment was interrupted; the amount was returned to the balance")
    return await _refund_if_too_late(db, done, now)


async def confirm_gateway_payment(db, uid: str, amount: int, now: int) -> dict:
    """The one entry point for a verified gateway notification that a
    deposit was paid. Idempotent: a repeated notification changes nothing."""
    doc = await db.deposits.find_one({"uid": uid})
    if not doc or doc["pay_type"] not in GATEWAYS:
        raise NotFound("no such deposit payment")
    if amount != doc["amount"]:
        raise AmountMismatch(f"expected {doc['amount']}, notified {amount}")
    if doc["status"] == "paid":
        return doc
    try:
        done = await _mark_paid(db, doc["_id"], now, scope=doc["scope_key"])
    except DuplicateKeyError:
        done = None
    if done:
        return await _refund_if_too_late(db, done, now)
    if await db.deposits.find_one({"_id": doc["_id"], "status": "paid"}, {"_id": 1}):
        return await db.deposits.find_one({"_id": doc["_id"]})
    # Another deposit holds the scope (find_one_and_update answers None on a unique
    # violation, mongo-subset.md 9): keep the money as paid and give it straight back.
    await _mark_paid(db, doc["_id"], now)
    await refunds.refund(db, doc["_id"], now)
    return await db.deposits.find_one({"_id": doc["_id"]})


async def _refund_if_too_late(db, doc: dict, now: int) -> dict:
    """A deposit that became paid after its lot or session closed (or was
    deleted) missed the refunds made then: it can no longer be bid with, so
    it goes back at once. Not one paid for a second-chance offer: that one is
    paid for a closed lot (domain/offers.py gives it back if unused)."""
    if doc.get("offer_id"):
        return doc
    if doc["kind"] == "lot":
        lot = await db.lots.find_one({"_id": doc["lot_id"]}, {"status": 1, "deleted_at": 1})
        late = lot["deleted_at"] or lot["status"] not in LOT_OPEN
    else:
        auction = await db.auctions.find_one({"_id": doc["auction_id"]}, {"status": 1, "deleted_at": 1})
        late = auction["deleted_at"] or auction["status"] == "ended"
    if late and not await db.orders.find_one({"deposit_id": doc["_id"]}, {"_id": 1}):
        await refunds.refund(db, doc["_id"], now)
        return await db.deposits.find_one({"_id": doc["_id"]})
    return doc


async def recover_claims(db, now: int) -> None:
    """Finish balance payments a crash cut short: debited → paid, never
    debited (and stale) → the claim is released."""
    async for doc in db.deposits.find({"status": "unpaid", "pay_type": "balance"}):
        if await db.ledger.find_one({"user_id": doc["user_id"], "key": f"deposit:{doc['_id']}"}, {"_id": 1}):
            await _paid(db, doc, now)
        elif now - doc["created_at"] > STALE_CLAIM_MS:
            await db.deposits.delete_one({"_id": doc["_id"], "status": "unpaid"})


async def with_history(db, docs: list[dict]) -> list[dict]:
    """The deposits with their refunds and deductions (api.md's deposit JSON)."""
    ids = [d["_id"] for d in docs]
    refunds_of: dict[str, list] = {i: [] for i in ids}
    deductions_of: dict[str, list] = {i: [] for i in ids}
    async for r in db.deposit_refunds.find({"_id": {"$in": ids}}):  # a refund's id is its deposit's
        refunds_of[r["deposit_id"]].append(r)
    async for d in db.deposit_deductions.find({"deposit_id": {"$in": ids}}):
        deductions_of[d["deposit_id"]].append(d)
    return [{**d, "refunds": refunds_of[d["_id"]], "deductions": deductions_of[d["_id"]]} for d in docs]


async def of_user(db, user_id: str) -> list[dict]:
    return await with_history(db, await db.deposits.find({"user_id": user_id}).sort("created_at", -1).to_list(None))


async def mine(db, user_id: str, auction_id: str, lot_id: str = "") -> dict | None:
    """What a lot or session page shows the caller: the deposit that covers
    it (a paid one first, then a lot deposit before a session deposit)."""
    keys = [scope_key(user_id, auction_id)] + ([scope_key(user_id, auction_id, lot_id)] if lot_id else [])
    found = await db.deposits.find({"user_id": user_id, "scope_key": {"$in": keys}}).to_list(None)
    if not found:
        return None
    best = min(found, key=lambda d: (d["status"] != "paid", d["kind"] != "lot", -d["created_at"]))
    return (await with_history(db, [best]))[0]


async def listing(db, query: dict, limit: int) -> list[dict]:
    return await with_history(db, await db.deposits.find(query).sort("created_at", -1).limit(limit).to_list(None))
