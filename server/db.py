"""The database connection, the indexes the rules rely on, and the
one-time upgrades of data stored before a change."""
import logging

from pymongo import ASCENDING as A, DESCENDING as D, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from domain import phones

log = logging.getLogger("gavel.db")

# collection -> [(keys, options)]; the unique ones are guards of the rules.
INDEXES = {
    "users": [([("phone", A)], {"unique": True})],
    "tokens": [([("user_id", A)], {})],
    "login_codes": [([("phone", A)], {}), ([("addr", A)], {}), ([("sent_at", A)], {})],
    "login_guards": [([("touched_at", A)], {})],
    "ledger": [
        ([("user_id", A), ("seq", A)], {"unique": True}),
        ([("user_id", A), ("key", A)], {"unique": True}),
        # The embedded store answers a query on `user_id` alone (a ledger's tail)
        # only from a single-field index, not from the compound ones above.
        ([("user_id", A)], {}),
    ],
    "auctions": [([("status", A)], {}), ([("deleted_at", A)], {}), ([("settle", A)], {})],
    "lots": [([("catalog_no", A)], {"unique": True}), ([("auction_id", A)], {}), ([("status", A)], {}),
             ([("settle", A)], {}), ([("deleted_at", A)], {})],
    "bids": [
        ([("lot_id", A), ("seq", D)], {"unique": True}),
        ([("user_id", A), ("client_id", A)], {"unique": True}),
    ],
    "audit": [([("target", A)], {})],
    "paddles": [([("auction_id", A)], {})],
    # One offer open per lot: `open_key` is the lot's id while pending (domain/offers.py).
    "offers": [([("open_key", A)], {"unique": True}), ([("user_id", A)], {}), ([("lot_id", A)], {}),
               ([("status", A)], {})],
    # One paid deposit per user and lot / session: `scope` (domain/deposits.py).
    "deposits": [
        ([("uid", A)], {"unique": True}),
        ([("scope", A)], {"unique": True}),
        ([("user_id", A)], {}), ([("lot_id", A)], {}), ([("auction_id", A)], {}),
        ([("state", A)], {}), ([("status", A)], {}), ([("offer_id", A)], {}),
    ],
    "deposit_refunds": [([("uid", A)], {"unique": True}), ([("status", A)], {})],  # _id is the deposit's id
    "deposit_deductions": [([("deposit_id", A)], {})],
    # One order per lot and round: `lot_key` (domain/orders.py).
    "orders": [
        ([("order_no", A)], {"unique": True}),
        ([("lot_key", A)], {"unique": True}),
        ([("user_id", A)], {}), ([("auction_id", A)], {}), ([("lot_id", A)], {}),
        ([("status", A)], {}), ([("deposit_id", A)], {}), ([("forfeit", A)], {}), ([("earn", A)], {}),
    ],
    "coupons": [([("status", A)], {}), ([("deleted_at", A)], {})],
    # One per user and coupon: the claim's guard (domain/coupons.py).
    "user_coupons": [
        ([("coupon_id", A), ("user_id", A)], {"unique": True}),
        ([("user_id", A)], {}), ([("coupon_id", A)], {}), ([("status", A)], {}), ([("expires_at", A)], {}),
    ],
    # _id is the out_trade_no (domain/payments.py).
    "payments": [([("status", A)], {}), ([("user_id", A)], {}), ([("effect", A)], {}), ([("unwind", A)], {}),
                 ([("refund_status", A)], {})],
    # The credits ledger: the same guards as the money's (domain/credits.py).
    "credit_lines": [
        ([("user_id", A), ("seq", A)], {"unique": True}),
        ([("user_id", A), ("key", A)], {"unique": True}),
        ([("user_id", A)], {}),
    ],
    "addresses": [([("user_id", A)], {})],
}


# What the payment of an order added to documents made before it.
NEW_FIELDS = {  # fields added since a data directory may have been made, with their initial values
    "auctions": {"bid_count_at": 0, "paddle_seq": 0, "max_jump": 0},
    "orders": {"payment": "", "coupon_id": "", "credits_used": 0, "credits_amount": 0, "deposit_refund": 0, "earn": ""},
    "deposits": {"use_payment": "", "offer_id": ""},
    "deposit_refunds": {"try_at": 0},
    "lots": {"max_credit": 0, "voided_keys": []},
}


def connect(url: str) -> AsyncMongoClient:
    """A frequent heartbeat, so that a store that went away, or came back, is
    noticed within a second; no retries by the driver, whose retry waits for a
    server to be selected again: a request the store cannot take is answered
    `unavailable` at once, and the client retries it (every step is keyed, so
    a retry is harmless)."""
    return AsyncMongoClient(url, serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=1000, retryReads=False,
                            retryWrites=False, tz_aware=True)


def store_trouble(client: AsyncMongoClient) -> str:
    """Why the store cannot take a write now, from the driver's own view of it
    (no I/O: answered at once); "" when it can."""
    topology = client.topology_description
    if topology.has_writable_server():
        return ""
    errors = [str(s.error) for s in topology.server_descriptions().values() if s.error]
    return f"no writable MongoDB server ({errors[0] if errors else 'none known yet'})"


def database(client: AsyncMongoClient):
    return client.get_default_database("gavel")


async def ensure_indexes(db) -> None:
    for name, specs in INDEXES.items():
        for keys, options in specs:
            await db[name].create_index(keys, **options)


async def upgrade(db, now: int) -> None:
    """Fields added since a data directory was made, initialised (a filter on a
    missing field matches nothing on the embedded store: mongo-subset.md 18)."""
    for name, fields in NEW_FIELDS.items():
        for field, value in fields.items():
            await db[name].update_many({field: {"$exists": False}}, {"$set": {field: value}})
    for name, step in ONCE:
        if not await db.upgrades.find_one({"_id": name}):
            await step(db, now)
            await db.upgrades.insert_one({"_id": name, "at": now})


async def _token_lifetimes(db, now: int) -> None:
    """Tokens from before they expired: their idle time counts from now."""
    await db.tokens.update_many({"kind": {"$exists": False}}, {"$set": {"kind": "login"}})
    await db.tokens.update_many({"used_at": {"$exists": False}}, {"$set": {"used_at": now}})


async def _normal_phones(db, now: int) -> None:
    """Users were stored with the phone as they typed it: one account per
    number now. Where two accounts hold the same number written two ways,
    the one already in the normal form (or the older) keeps it; the other
    keeps its old spelling, which no login reaches, and is logged for an
    operator to settle (their money cannot simply be merged)."""
    users = [u async for u in db.users.find({}, {"phone": 1, "created_at": 1})]
    for user in sorted(users, key=lambda u: u.get("created_at", 0)):
        normal = phones.try_normalise(user["phone"])
        if normal is None or normal == user["phone"]:
            continue
        try:
            await db.users.update_one({"_id": user["_id"]}, {"$set": {"phone": normal}})
        except DuplicateKeyError:
            log.warning("user %s has phone %r, which is %s, held by another account: left as it is",
                        user["_id"], user["phone"], normal)


ONCE = (("token_lifetimes", _token_lifetimes), ("normal_phones", _normal_phones))
