"""Users, phone-code login and tokens.

Tokens are stored only as their SHA-256, so a leaked database does not leak
sessions. A new user's starting balance is the first line of their ledger.
"""
import hashlib
import hmac
import secrets

from pymongo.errors import DuplicateKeyError

from domain import wallet
from domain.errors import InvalidRequest, RateLimited, Unauthorized
from domain.ids import new_id

CODE_TTL_MS = 5 * 60 * 1000
CODE_RESEND_MS = 10 * 1000
CODE_ATTEMPTS = 5
OPERATOR_ID = "operator"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def masked_name(user: dict) -> str:
    """How other bidders see someone: first character and a star (张*)."""
    name = user.get("nickname") or user.get("phone") or "?"
    return name[0] + "*"


async def request_code(db, phone: str, now: int) -> str:
    previous = await db.login_codes.find_one({"_id": phone})
    if previous and now - previous["sent_at"] < CODE_RESEND_MS:
        raise RateLimited("a code was sent a moment ago; wait before asking again")
    code = f"{secrets.randbelow(10**6):06d}"
    await db.login_codes.replace_one(
        {"_id": phone},
        {"_id": phone, "code_hash": hash_token(code), "sent_at": now, "attempts": 0},
        upsert=True,
    )
    return code


async def _check_code(db, phone: str, code: str, now: int) -> None:
    entry = await db.login_codes.find_one_and_update(
        {"_id": phone, "attempts": {"$lt": CODE_ATTEMPTS}}, {"$inc": {"attempts": 1}}
    )
    if not entry or now - entry["sent_at"] > CODE_TTL_MS:
        raise Unauthorized("no valid code for this phone; request a new one")
    if not hmac.compare_digest(entry["code_hash"], hash_token(code)):
        raise Unauthorized("wrong code")
    # One use only: whoever deletes it logs in.
    gone = await db.login_codes.delete_one({"_id": phone, "code_hash": entry["code_hash"]})
    if gone.deleted_count != 1:
        raise Unauthorized("code already used")


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


async def issue_token(db, user_id: str, now: int) -> str:
    token = secrets.token_urlsafe(32)
    await db.tokens.insert_one({"_id": hash_token(token), "user_id": user_id, "created_at": now})
    return token


async def login(db, phone: str, code: str, now: int, start_balance: int) -> tuple[str, dict]:
    await _check_code(db, phone, code, now)
    user = await _user_for_phone(db, phone, now, start_balance)
    return await issue_token(db, user["_id"], now), user


async def authenticate(db, token: str) -> dict | None:
    if not token:
        return None
    entry = await db.tokens.find_one({"_id": hash_token(token)})
    if not entry:
        return None
    return await db.users.find_one({"_id": entry["user_id"]})


async def bootstrap_operator(db, token: str, now: int) -> None:
    """The operator account whose token comes from ADMIN_TOKEN or DATA_DIR."""
    if len(token) < 16:
        raise InvalidRequest("ADMIN_TOKEN must be at least 16 characters")
    await db.users.update_one(
        {"_id": OPERATOR_ID},
        {"$setOnInsert": {"phone": "operator", "nickname": "运营", "created_at": now, "banned_until": 0},
         "$set": {"role": "operator"}},
        upsert=True,
    )
    await db.tokens.update_one(
        {"_id": hash_token(token)},
        {"$setOnInsert": {"user_id": OPERATOR_ID, "created_at": now}},
        upsert=True,
    )
