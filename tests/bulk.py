"""Big auctions, fast: users, paid lot deposits (with their ledger debits)
and bids written straight into the database in the shapes the code writes,
for the crash test of the close and for bench/close_bench.py; logged-in
users for the coupon race and bench/coupon_claims.py. Lots are made
by the domain's own `lots.create` (its events go nowhere: the server's
timers find these lots when the session goes live); everything else in bulk."""
from domain import deposits, lots as lots_mod
from domain.accounts import issue_token, masked_name
from domain.clock import SystemClock
from domain.ids import new_id
from helpers import EventRecorder

OPENING = 10_000_000


async def seed(db, auction_id: str, lots: int, bidders_per_lot: int, bids_per_lot: int, users: int,
               deposit: int = 5000, unsold_every: int = 0, phone_prefix: str = "") -> list[dict]:
    """Lots of a session that is still `scheduled`, each with `bidders_per_lot`
    paid lot deposits and `bids_per_lot` bids (the last bidder leads). With
    `unsold_every` = n, one lot in n has a reserve just above its price."""
    now = SystemClock().now_ms()
    made = [await lots_mod.create(db, EventRecorder(), auction_id, {"title": f"拍品{i}", "start_price": 10000, "increment": 1000,
                                                   "deposit": deposit}, now) for i in range(lots)]
    prefix = phone_prefix or f"1{now % 10**6:06d}"
    people = [{"_id": new_id(), "phone": f"{prefix}{i:05d}", "nickname": f"买家{i}", "role": "bidder",
               "created_at": now, "banned_until": 0} for i in range(users)]
    book = {u["_id"]: [_line(u["_id"], 1, "opening", OPENING, OPENING, "opening", "", now)] for u in people}
    deposit_docs, bid_docs = [], []
    for i, lot in enumerate(made):
        bidders = [people[(i * bidders_per_lot + k) % users] for k in range(bidders_per_lot)]
        for user in bidders:
            dep_id, uid = new_id(), f"D{len(deposit_docs):023d}"  # readable_serial's shape, never taken twice
            key = deposits.scope_key(user["_id"], auction_id, lot["_id"])
            deposit_docs.append({
                "_id": dep_id, "uid": uid, "user_id": user["_id"], "kind": "lot", "auction_id": auction_id,
                "lot_id": lot["_id"], "amount": deposit, "scope": key, "scope_key": key, "status": "paid",
                "pay_type": "balance", "state": "held", "remaining": deposit, "forfeit_order": "",
                "created_at": now, "paid_at": now})
            lines = book[user["_id"]]
            lines.append(_line(user["_id"], len(lines) + 1, "deposit", -deposit,
                               lines[-1]["balance_after"] - deposit, f"deposit:{dep_id}", uid, now))
        for seq in range(1, bids_per_lot + 1):
            user = bidders[seq % bidders_per_lot]
            bid_docs.append({"_id": f"{lot['_id']}:{seq}", "lot_id": lot["_id"], "auction_id": auction_id,
                             "seq": seq, "price": lot["start_price"] + (seq - 1) * lot["increment"],
                             "user_id": user["_id"], "bidder": masked_name(user), "status": "bidding",
                             "client_id": f"seed-{lot['_id']}-{seq}", "kind": "bid", "created_at": now})
    await db.users.insert_many(people)
    await db.ledger.insert_many([line for lines in book.values() for line in lines])
    await db.deposits.insert_many(deposit_docs)
    if bid_docs:
        await db.bids.insert_many(bid_docs)
    for i, lot in enumerate(made):
        if not bids_per_lot:
            continue
        last = bid_docs[(i + 1) * bids_per_lot - 1]
        await db.lots.update_one({"_id": lot["_id"]}, {"$set": {
            "price": last["price"], "leader": last["user_id"], "leader_name": last["bidder"], "seq": bids_per_lot,
            "bid_count": bids_per_lot, "next_min": last["price"] + lot["increment"],
            "reserve_price": last["price"] + 1 if unsold_every and i % unsold_every == 0 else 0,
            "last_bid": {"price": last["price"], "user_id": last["user_id"], "bidder": last["bidder"],
                         "client_id": last["client_id"], "kind": "bid", "at": now}}})
    return made


async def logged_in_users(db, count: int, phone_prefix: str = "") -> list[str]:
    """`count` users as a first login makes them, in bulk; a token for each."""
    now = SystemClock().now_ms()
    prefix = phone_prefix or f"2{now % 10**6:06d}"
    people = [{"_id": new_id(), "phone": f"{prefix}{i:05d}", "nickname": f"用户{i}", "role": "bidder",
               "created_at": now, "banned_until": 0} for i in range(count)]
    await db.users.insert_many(people)
    await db.ledger.insert_many([_line(u["_id"], 1, "opening", OPENING, OPENING, "opening", "", now) for u in people])
    return [await issue_token(db, u["_id"], now) for u in people]


def _line(user_id, seq, kind, amount, after, key, ref, now) -> dict:
    return {"_id": f"{user_id}:{seq}", "user_id": user_id, "seq": seq, "kind": kind, "amount": amount,
            "balance_after": after, "key": key, "ref": ref, "created_at": now}
