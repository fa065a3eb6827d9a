"""Users, phone-code login and tokens.

Tokens are stored only as their SHA-256, so a leaked database does not leak
sessions. A login token ends after `idle` unused or `max` in all, by logout
(this token) or logout-all (every token of the user); the bootstrap
operator's token is the one ADMIN_TOKEN (or DATA_DIR) gives at start-up,
and any earlier one ends then. A new user's starting balance is the first
line of their ledger.
"""
import hashlib
import secrets
from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import logins, wallet
from domain.errors import InvalidRequest
from domain.ids import new_id

DAY_MS = 86400 * 1000
TOUCH_MS = 60_000  # a token's last use is written at most once a minute (a tenth of the idle time if less)
OPERATOR_ID = "operator"


class TokenLife(NamedTuple):
    idle_ms: int = 30 * DAY_MS
    max_ms: int = 90 * DAY_MS


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def masked_name(user: dict) -> str:
    """How other bidders see someone: first character and a star (张*)."""
    name = user.get("nickname") or user.get("phone") or "?"
    return name[0] + "*"


async def _user_for_phone(db, phone: str, now: int, start_balance: int) -> dict:
    user = await db.users.find_one({"phone": phone})
    if not user:
        user = {
            "_id": new_id(), "phone": phone, "nickname": f"用户{phone[-4:]}",
            "role": "bidder", "created_at": now, "banned_until": 0,
        }
        try:
            await db.users.insert_one(user)
        except DuplicateKeyError:
            user = await db.users.find_one({"phone": phone})
    # Keyed, so a crash between the two writes is repaired on the next login.
    await wallet.append(db, user["_id"], "opening", start_balance, key="opening", now=now)
    return user


async def issue_token(db, user_id: str, now: int, kind: str = "login") -> str:
    token = secrets.token_urlsafe(32)
    await db.tokens.insert_one({"_id": hash_token(token), "user_id": user_id, "kind": kind,
                                "created_at": now, "used_at": now})
    return token


async def login(db, phone: str, code: str, address: str, now: int, start_balance: int,
                limits: logins.LoginLimits) -> tuple[str, dict]:
    """`phone` is normalised already (domain.phones); `address` is the client's, for the limits."""
    await logins.check_code(db, phone, code, address, now, limits)
    user = await _user_for_phone(db, phone, now, start_balance)
    return await issue_token(db, user["_id"], now), user


def ends_at(entry: dict, life: TokenLife) -> int:
    """When a token ends at the latest, whatever its use (0: the bootstrap token does not)."""
    return 0 if entry["kind"] == "bootstrap" else entry["created_at"] + life.max_ms


def _expired(entry: dict, now: int, life: TokenLife) -> bool:
    end = ends_at(entry, life)
    return bool(end) and (now >= end or now - entry["used_at"] >= life.idle_ms)


async def session(db, token: str, now: int, life: TokenLife) -> tuple[dict, dict] | None:
    """(user, token entry) of a live token; an expired one is deleted."""
    if not token:
        return None
    entry = await db.tokens.find_one({"_id": hash_token(token)})
    if not entry:
        return None
    # A node not yet upgraded (a rolling deploy) still writes tokens without these.
    entry.setdefault("kind", "login")
    entry.setdefault("used_at", entry["created_at"])
    if _expired(entry, now, life):
        await db.tokens.delete_one({"_id": entry["_id"]})
        return None
    if entry["kind"] != "bootstrap" and now - entry["used_at"] >= min(TOUCH_MS, life.idle_ms // 10):
        await db.tokens.update_one({"_id": entry["_id"]}, {"$set": {"used_at": now}})
    user = await db.users.find_one({"_id": entry["user_id"]})
    return (user, entry) if user else None


async def authenticate(db, token: str, now: int, life: TokenLife) -> dict | None:
    found = await session(db, token, now, life)
    return found[0] if found else None


def logged_out(user_id: str, token_hash: str = "") -> dict:
    """The event: sockets authenticated with that token (every token of the user when "") lose it."""
    return {"type": "logged_out", "user": user_id, "token": token_hash}


async def logout(db, events, token: str) -> None:
    entry = await db.tokens.find_one_and_delete({"_id": hash_token(token)})
    if entry:
        await events.publish(logged_out(entry["user_id"], entry["_id"]))


async def logout_all(db, events, user_id: str) -> int:
    """End every token of the user; how many there were."""
    ids = [doc["_id"] async for doc in db.tokens.find({"user_id": user_id}, {"_id": 1})]
    for token_id in ids:  # by _id: a filter on user_id alone would scan (mongo-subset.md 17)
        await db.tokens.delete_one({"_id": token_id})
    await events.publish(logged_out(user_id))
    return len(ids)


async def bootstrap_operator(db, token: str, now: int) -> int:
    """The operator account whose token comes from ADMIN_TOKEN or DATA_DIR:
    that token, and no other, is the operator's. How many it replaced."""
    if len(token) < 16:
        raise InvalidRequest("ADMIN_TOKEN must be at least 16 characters")
    await db.users.update_one(
        {"_id": OPERATOR_ID},
        {"$setOnInsert": {"phone": "operator", "nickname": "运营", "created_at": now, "banned_until": 0},
         "$set": {"role": "operator"}},
        upsert=True,
    )
    current = hash_token(token)
    await db.tokens.update_one(
        {"_id": current},
        {"$setOnInsert": {"user_id": OPERATOR_ID, "created_at": now}, "$set": {"kind": "bootstrap", "used_at": now}},
        upsert=True,
    )
    replaced = 0
    async for doc in db.tokens.find({"user_id": OPERATOR_ID}, {"_id": 1}):
        if doc["_id"] != current:
            replaced += (await db.tokens.delete_one({"_id": doc["_id"]})).deleted_count
    return replaced
