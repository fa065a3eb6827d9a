"""The recovery sweep: finish every multi-document step a crash (or a lost
timer) interrupted. Each step it calls is keyed and conditional, so running
the sweep while the same steps run elsewhere, or twice, changes nothing.
It runs at start-up and every `recovery_interval_s` (server/timers.py)."""
import logging

from domain import (auctions, bidding, closing, coupons, credits, deposits, logins, offers, overdue, refunds,
                    settlement, timeline)
from domain.rules import Rules

log = logging.getLogger("gavel.recovery")


async def _each(cursor, step, what: str) -> None:
    """`step` on every document found; one that fails (a bad document, a store
    hiccup) is logged and the others go on: the next sweep tries it again."""
    async for doc in cursor:
        try:
            await step(doc)
        except Exception:
            log.exception("recovery: %s of %s failed", what, doc.get("_id"))


async def _guarded(step, what: str) -> None:
    try:
        await step
    except Exception:
        log.exception("recovery: %s failed", what)


async def sweep(db, events, now: int, rules: Rules, bids_since: int = 0, gateways: dict | None = None) -> None:
    """Every step on its own, so that one that fails does not keep the others
    from running. With `bids_since`, only lots bid on since then are checked
    for a bid missing from the history: the first sweep checks them all, the
    next ones what was bid on since the one before (a sweep of a thousand
    idle lots would otherwise cost the store a thousand reads a minute).
    `gateways`: what asks about expiring payments and pays gateway refunds
    (without them those wait for a sweep that has them)."""
    await _guarded(deposits.recover_claims(db, now), "finishing deposit payments")
    await _each(db.auctions.find({"deleted_at": {"$gt": 0}, "settle": {"$exists": False}}, {"deleted_at": 1}),
                lambda a: auctions.delete_lots_of(db, a["_id"], a["deleted_at"]), "hiding a withdrawn session's lots")
    for status in auctions.EDITABLE:  # a lot stored or deleted, its session's count cut off
        await _each(db.auctions.find({"status": status, "deleted_at": 0}, {"lot_count": 1}),
                    lambda a: auctions.recount_lots(db, a), "recounting lots")
    bid_on = {"last_bid.at": {"$gte": bids_since}} if bids_since else {"seq": {"$gt": 0}}
    for status in ("live", "paused"):  # a bid accepted on the lot but cut off before the history
        await _each(db.lots.find({"status": status, **bid_on}), lambda lot: bidding.repair_history(db, lot),
                    "repairing a bid history")
    await _each(db.lots.find({"settle": "pending"}, {"_id": 1}),
                lambda lot: closing.complete_lot(db, events, lot["_id"], now, rules), "completing a lot's close")
    await _each(db.auctions.find({"settle": "pending"}, {"_id": 1}),
                lambda a: closing.complete_session(db, events, a["_id"], now, rules), "completing a session's end")
    await _each(db.auctions.find({"status": "live", "deleted_at": 0}, {"_id": 1}),
                lambda a: auctions.recount_bids(db, a["_id"], now), "recounting bids")  # a node died before its recount
    # A session whose last lot closed while its end went unnoticed (a timer lost with a node).
    await _each(db.auctions.find({"status": "live", "deleted_at": 0, "auction_end": {"$lte": now}}, {"_id": 1}),
                lambda a: timeline.end_if_done(db, events, a["_id"], now, rules), "ending a session")
    await _guarded(refunds.pay_lots(db, {}, now), "paying the refunds of closed lots")
    await _guarded(refunds.pay_claimed(db, {}, now), "paying claimed refunds")
    await _guarded(refunds.refund_withdrawn(db, now), "refunding withdrawn deposits")
    # Payments before overdue orders: a payment may hold a deposit.
    await _guarded(settlement.recover(db, events, gateways or {}, now), "finishing payments")
    await _guarded(overdue.finish_interrupted(db, events, now, rules), "finishing overdue orders")
    await _each(db.orders.find({"earn": "pending"}, {"_id": 1}),
                lambda o: credits.earn_for_order(db, o["_id"], rules.credits_per_yuan, now), "earning credits")
    await _guarded(offers.finish_interrupted(db, events, now, rules), "finishing offers")
    await _guarded(coupons.recover_claims(db, now), "finishing coupon claims")
    await _guarded(coupons.follow_sessions(db, rules), "following coupons' sessions")
    await _guarded(coupons.expire_due(db, now), "expiring coupons")  # also when no timer ran
    await _guarded(logins.purge(db, now), "deleting old login codes and counts")
