"""Giving held deposits back (保证金退款), once, whatever is interrupted.

Who decides a refund records it on the document it owns: a closed lot
(`settle: "refunds"`, with `refund_keep`, the deposit backing its order)
stands for the refund of every other deposit for it; a single deposit is
claimed (`held` → `refunding`, its amount frozen in `remaining`). Paying
out is then the same for both, in batches: one ledger credit per
balance-paid deposit (key `refund:{deposit_id}`, one batch of lines per
user), one refund record per deposit (`deposit_refunds._id` = the deposit
id; its serial is the deposit's with an R), the deposits `refunded`, and
last the lots `settle: "done"`. A balance refund is `done` when its record
is written; a gateway refund's record is `pending` until the gateway
confirms, which in the sandbox (until the payments issue wires the
gateways) is at once. Paying out again (a retry, the recovery sweep,
another node) changes nothing.

Batching matters at the end of a session, when a thousand lots close at
once: their refunds are paid out together, a few writes per user and one
per deposit.
"""
import asyncio
import logging

from pymongo.errors import BulkWriteError

from domain import wallet
from domain.states import DEPOSIT_MONEY, REFUND, move, move_many

log = logging.getLogger("gavel.refunds")
BATCH = 2000  # claimed deposits per round (bounds the size of `$in` lists)
LOT_BATCH = 250  # closed lots per round


async def claim(db, query: dict, now: int) -> None:
    """Decide to refund every held deposit matching `query`; `pay_claimed` pays them."""
    ids = [d["_id"] async for d in db.deposits.find({**query, "status": "paid", "state": "held"}, {"_id": 1})]
    # By id: the embedded store filters other update_many queries without their index.
    if ids:
        await move_many(db.deposits, DEPOSIT_MONEY, {"_id": {"$in": ids}}, "refunding", set={"refund_claimed_at": now})


async def refund(db, deposit_id: str, now: int) -> None:
    """Refund what is left of one held deposit, or finish its refund."""
    await move(db.deposits, DEPOSIT_MONEY, {"_id": deposit_id, "status": "paid"}, "refunding",
               set={"refund_claimed_at": now})
    await pay_claimed(db, {"_id": deposit_id}, now)


async def refund_all(db, query: dict, now: int) -> None:
    await claim(db, query, now)
    await pay_claimed(db, query, now)


async def pay_lots(db, query: dict, now: int) -> int:
    """Pay the refunds of the closed lots matching `query` (all their
    deposits but the one backing the order). Returns how many."""
    total = 0
    while lots := await db.lots.find({**query, "settle": "refunds"}, {"refund_keep": 1}).limit(LOT_BATCH).to_list(None):
        ids, keep = [lot["_id"] for lot in lots], {lot["refund_keep"] for lot in lots}
        # One read per lot: the embedded store uses no index for `$in` but on _id.
        of_lots = await asyncio.gather(*(db.deposits.find({"lot_id": i}).to_list(None) for i in ids))
        held = [d for found in of_lots for d in found
                if d["kind"] == "lot" and d["status"] == "paid" and d["state"] == "held" and d["_id"] not in keep]
        total += await _pay(db, held, now)
        await db.lots.update_many({"_id": {"$in": ids}, "settle": "refunds"}, {"$set": {"settle": "done"}})
    return total


async def pay_claimed(db, query: dict, now: int) -> int:
    """Pay the claimed refunds of the deposits matching `query`. Returns how many."""
    total = 0
    while True:
        claimed = await db.deposits.find({**query, "state": "refunding"}).limit(BATCH).to_list(None)
        if claimed:
            total += await _pay(db, claimed, now)
        if len(claimed) < BATCH:
            return total


def serial(deposit: dict) -> str:
    """The refund's serial (流水号): the deposit's, R for D — unique, and the
    same however often the refund is retried."""
    return "R" + deposit["uid"][1:]


async def _pay(db, refundable: list[dict], now: int) -> int:
    by_user: dict[str, list[dict]] = {}
    for dep in refundable:
        if dep["remaining"] and dep["pay_type"] == "balance":
            by_user.setdefault(dep["user_id"], []).append(dep)
    credited = await asyncio.gather(*(
        wallet.credit_many(db, user_id, [("refund", d["remaining"], f"refund:{d['_id']}", serial(d)) for d in deps], now)
        for user_id, deps in by_user.items()), return_exceptions=True)
    failed = {d["_id"] for result, deps in zip(credited, by_user.values()) if isinstance(result, BaseException)
              for d in deps}
    paid = [d for d in refundable if d["_id"] not in failed]
    records = [{"_id": d["_id"], "uid": serial(d), "deposit_id": d["_id"], "user_id": d["user_id"],
                "amount": d["remaining"], "pay_type": d["pay_type"],
                "status": "done" if d["pay_type"] == "balance" else "pending",
                "created_at": now, "done_at": now if d["pay_type"] == "balance" else 0} for d in paid if d["remaining"]]
    if records:
        try:
            await db.deposit_refunds.insert_many(records, ordered=False)
        except BulkWriteError as exc:
            if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                raise  # 11000: written before an interruption
    gateway = [r["_id"] for r in records if r["status"] == "pending"]
    if gateway:  # sandboxed gateways confirm refunds at once
        await move_many(db.deposit_refunds, REFUND, {"_id": {"$in": gateway}}, "done", set={"done_at": now})
    await move_many(db.deposits, DEPOSIT_MONEY, {"_id": {"$in": [d["_id"] for d in paid]}}, "refunded",
                    set={"remaining": 0, "refunded_at": now})
    for record in records:
        log.info("deposit %s refunded: %d to user %s (%s, refund %s)", record["deposit_id"], record["amount"],
                 record["user_id"], record["pay_type"], record["uid"])
    for result in credited:
        if isinstance(result, BaseException):
            raise result  # those refunds stay decided, for the next run
    return len(paid)


async def refund_withdrawn(db, now: int) -> None:
    """Deposits for a lot or session the operator deleted go back. The
    deleted document records that this was done (`settle: "done"`)."""
    for name, kind, field in (("lots", "lot", "lot_id"), ("auctions", "auction", "auction_id")):
        async for doc in db[name].find({"deleted_at": {"$gt": 0}, "settle": {"$exists": False}}, {"_id": 1}):
            await refund_all(db, {field: doc["_id"], "kind": kind}, now)
            await db[name].update_one({"_id": doc["_id"]}, {"$set": {"settle": "done"}})
