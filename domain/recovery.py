"""The recovery sweep: finish every multi-document step a crash (or a lost
timer) interrupted. Each step it calls is keyed and conditional, so running
the sweep while the same steps run elsewhere, or twice, changes nothing.
It runs at start-up and every `recovery_interval_s` (server/timers.py)."""
from domain import auctions, bidding, closing, coupons, deposits, logins, offers, overdue, refunds, timeline
from domain.rules import Rules


async def sweep(db, events, now: int, rules: Rules, bids_since: int = 0) -> None:
    """With `bids_since`, only lots bid on since then are checked for a bid missing from the history: the first
    sweep checks them all, the next ones what was bid on since the one before
    (a sweep of a thousand idle lots would otherwise cost the store a
    thousand reads a minute)."""
    await deposits.recover_claims(db, now)
    async for auction in db.auctions.find({"deleted_at": {"$gt": 0}, "settle": {"$exists": False}}, {"deleted_at": 1}):
        await auctions.delete_lots_of(db, auction["_id"], auction["deleted_at"])  # before their deposits go back
    for status in auctions.EDITABLE:  # a lot stored or deleted, its session's count cut off
        async for auction in db.auctions.find({"status": status, "deleted_at": 0}, {"lot_count": 1}):
            await auctions.recount_lots(db, auction)
    bid_on = {"last_bid.at": {"$gte": bids_since}} if bids_since else {"seq": {"$gt": 0}}
    for status in ("live", "paused"):  # a bid accepted on the lot but cut off before the history
        async for lot in db.lots.find({"status": status, **bid_on}):
            await bidding.repair_history(db, lot)
    async for lot in db.lots.find({"settle": "pending"}, {"_id": 1}):
        await closing.complete_lot(db, events, lot["_id"], now, rules)
    async for auction in db.auctions.find({"settle": "pending"}, {"_id": 1}):
        await closing.complete_session(db, events, auction["_id"], now, rules)
    async for auction in db.auctions.find({"status": "live", "deleted_at": 0}, {"_id": 1}):
        await auctions.recount_bids(db, auction["_id"], now)  # a node that died before its recount
    # A session whose last lot closed while its end went unnoticed (a timer lost with a node).
    async for auction in db.auctions.find({"status": "live", "deleted_at": 0, "auction_end": {"$lte": now}}, {"_id": 1}):
        await timeline.end_if_done(db, events, auction["_id"], now, rules)
    await refunds.pay_lots(db, {}, now)
    await refunds.pay_claimed(db, {}, now)
    await refunds.refund_withdrawn(db, now)
    await overdue.finish_interrupted(db, events, now, rules)
    await offers.finish_interrupted(db, events, now, rules)
    await coupons.recover_claims(db, now)
    await coupons.follow_sessions(db, rules)
    await coupons.expire_due(db, now)  # also when no timer ran (the timers are rebuilt after the sweep)
    await logins.purge(db, now)
