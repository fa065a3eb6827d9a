"""Login codes (短信验证码), and the limits that make wrong guesses cost the
guesser, never the owner of the phone.

- Every code a phone is sent stays valid until it is used or expires
  (five minutes): asking again adds a code and voids none.
- A client address that guesses wrong a few times waits before its next
  guess, twice as long after each further wrong one (up to a cap).
- A phone that has had a few wrong guesses is *guarded*: from then on a
  code is checked only from the address that asked for it, and only
  against the codes that address asked for, each allowing it a few
  tries. The owner, who types the code where it was asked for, logs in as
  before; a stranger elsewhere gets nowhere, however many addresses it has.
- Sending is limited per phone (one at a time, an hourly and a daily cap)
  and per address, except in the SMS sandbox, where nothing is sent.

Everything is counted in the store (`login_guards`, `login_codes`), so
the limits hold across a cluster. docs/security.md works out the odds.
"""
import hashlib
import math
import secrets
from typing import NamedTuple

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.errors import RateLimited, Unauthorized
from domain.ids import new_id

CODE_TTL_MS = 5 * 60 * 1000
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
GUARDED_TRIES_PER_CODE = 3  # tries a code allows the address that asked for it, once its phone is guarded
HOLD_MS = 10_000  # a guess past the free ones holds its address while it is checked
FORGET_MS = DAY_MS  # a day without a wrong guess and the counts start again
AFTER = ReturnDocument.AFTER


class LoginLimits(NamedTuple):
    code_interval_ms: int = 60_000      # between codes to one phone, while its last is unused
    codes_per_phone_hour: int = 5
    codes_per_phone_day: int = 10
    codes_per_address_hour: int = 30
    free_guesses: int = 5               # wrong guesses per address, and per phone before it is guarded
    backoff_max_ms: int = 900_000       # the longest wait between an address's guesses
    sandbox: bool = False               # codes are shown, not sent: no sending caps (they are SMS flood control)


def code_hash(phone: str, code: str) -> str:
    return hashlib.sha256(f"{phone}:{code}".encode()).hexdigest()


def limited(message: str, wait_ms: int) -> RateLimited:
    return RateLimited(message, retry_after=max(1, math.ceil(wait_ms / 1000)))


async def _counts(db, key: str, now: int) -> dict:
    """A phone's or an address's counts, made at zero when first needed."""
    # update_one: the embedded store's find_one_and_update drops $setOnInsert (test_store_contract.py).
    try:
        await db.login_guards.update_one(
            {"_id": key}, {"$setOnInsert": {"tries": 0, "open_at": 0, "failed_at": 0, "sent_at": 0, "touched_at": now}},
            upsert=True)
    except DuplicateKeyError:  # two first guesses at once: the other made it
        pass
    doc = await db.login_guards.find_one({"_id": key})
    if doc["failed_at"] and now - doc["failed_at"] > FORGET_MS:
        await db.login_guards.update_one({"_id": key, "failed_at": doc["failed_at"]},
                                         {"$set": {"tries": 0, "open_at": 0, "failed_at": 0}})
        doc.update(tries=0, open_at=0, failed_at=0)
    return doc


# --- sending ---------------------------------------------------------------------
async def request_code(db, phone: str, address: str, now: int, limits: LoginLimits) -> str:
    """A new code for the phone (the caller sends it, or shows it in the sandbox)."""
    if not limits.sandbox:
        await _check_sending_caps(db, phone, address, now, limits)
    key = f"phone:{phone}"
    counts = await _counts(db, key, now)
    wait = counts["sent_at"] + limits.code_interval_ms - now
    if wait > 0:
        raise limited("a code was sent a moment ago; wait before asking again", wait)
    taken = await db.login_guards.update_one({"_id": key, "sent_at": counts["sent_at"]},
                                             {"$set": {"sent_at": now, "touched_at": now}})
    if taken.modified_count != 1:
        raise limited("a code was sent a moment ago; wait before asking again", limits.code_interval_ms)
    code = f"{secrets.randbelow(10**6):06d}"
    await db.login_codes.insert_one({"_id": new_id(), "phone": phone, "addr": address, "hash": code_hash(phone, code),
                                     "sent_at": now, "expires_at": now + CODE_TTL_MS, "used_at": 0, "wrong": 0})
    return code


async def _check_sending_caps(db, phone: str, address: str, now: int, limits: LoginLimits) -> None:
    """Codes kept for a day (used or not) are what the caps count."""
    by_phone = [d["sent_at"] async for d in db.login_codes.find({"phone": phone, "sent_at": {"$gt": now - DAY_MS}},
                                                                {"sent_at": 1})]
    by_address = [d["sent_at"] async for d in db.login_codes.find({"addr": address, "sent_at": {"$gt": now - HOUR_MS}},
                                                                  {"sent_at": 1})]
    for sent, cap, window, what in ((by_phone, limits.codes_per_phone_hour, HOUR_MS, "an hour for a phone"),
                                    (by_phone, limits.codes_per_phone_day, DAY_MS, "a day for a phone"),
                                    (by_address, limits.codes_per_address_hour, HOUR_MS, "an hour from one address")):
        inside = sorted((t for t in sent if t > now - window), reverse=True)
        if len(inside) >= cap:
            raise limited(f"at most {cap} codes {what}", inside[cap - 1] + window - now)


# --- checking --------------------------------------------------------------------
async def check_code(db, phone: str, code: str, address: str, now: int, limits: LoginLimits) -> None:
    """Use one of the phone's codes, or refuse: Unauthorized for a wrong or
    expired code, RateLimited when this address or this phone may not try now."""
    address_key, phone_key = f"addr:{address}", f"phone:{phone}"
    held = await _take_guess(db, address_key, now, limits)
    await _counts(db, phone_key, now)
    counts = await db.login_guards.find_one_and_update({"_id": phone_key}, {"$inc": {"tries": 1}},
                                                       return_document=AFTER)
    guarded = counts["tries"] > limits.free_guesses
    query = {"phone": phone, "hash": code_hash(phone, code), "used_at": 0, "expires_at": {"$gt": now}}
    tries = await _take_own_tries(db, phone, address, now) if guarded else []
    if guarded:
        query["_id"] = {"$in": tries}
    if (tries or not guarded) and await db.login_codes.find_one_and_update(query, {"$set": {"used_at": now}}):
        # Right: this try was no wrong guess, and a new code may be sent at once.
        await db.login_guards.update_one({"_id": phone_key}, {"$inc": {"tries": -1}, "$set": {"sent_at": 0}})
        release = {"$set": {"open_at": now}} if held else {}
        await db.login_guards.update_one({"_id": address_key}, {"$inc": {"tries": -1}, **release})
        return
    await db.login_guards.update_one({"_id": phone_key}, {"$set": {"failed_at": now, "touched_at": now}})
    await _guessed_wrong(db, address_key, now, limits)
    if guarded and not tries:
        raise limited("this phone has had too many wrong codes: enter the code where it was asked for, "
                      "or ask for a new one", counts["sent_at"] + limits.code_interval_ms - now)
    raise Unauthorized("wrong or expired code")


async def _take_guess(db, key: str, now: int, limits: LoginLimits) -> bool:
    """May this address guess now? The first few go ahead (in flight, they
    count as wrong); past those, one at a time, each after its wait, holding
    the address while it is checked (True)."""
    counts = await _counts(db, key, now)
    if counts["open_at"] > now:
        raise limited("too many wrong codes from this address; wait", counts["open_at"] - now)
    free = limits.free_guesses
    if counts["tries"] < free and await db.login_guards.find_one_and_update(
            {"_id": key, "tries": {"$lt": free}}, {"$inc": {"tries": 1}, "$set": {"touched_at": now}}):
        return False
    hold = {"$inc": {"tries": 1}, "$set": {"open_at": now + HOLD_MS, "touched_at": now}}
    if await db.login_guards.find_one_and_update({"_id": key, "tries": {"$gte": free}, "open_at": {"$lte": now}}, hold):
        return True
    raise limited("too many wrong codes from this address; wait", HOLD_MS)


async def _guessed_wrong(db, key: str, now: int, limits: LoginLimits) -> None:
    counts = await db.login_guards.find_one_and_update({"_id": key}, {"$set": {"failed_at": now, "touched_at": now}},
                                                       return_document=AFTER)
    past = counts["tries"] - limits.free_guesses if counts else -1
    if past >= 0:
        wait = min(limits.backoff_max_ms, 1000 * 2 ** min(past, 30))
        await db.login_guards.update_one({"_id": key}, {"$set": {"open_at": now + wait}})


async def _take_own_tries(db, phone: str, address: str, now: int) -> list[str]:
    """On a guarded phone a guess is tried only against the live codes this
    address asked for, each allowing it so many tries, taken before the
    check (so that guesses at once cannot take more): the codes it may try."""
    tries = []
    async for doc in db.login_codes.find({"phone": phone, "addr": address, "used_at": 0, "expires_at": {"$gt": now},
                                          "wrong": {"$lt": GUARDED_TRIES_PER_CODE}}, {"_id": 1}):
        taken = await db.login_codes.update_one({"_id": doc["_id"], "wrong": {"$lt": GUARDED_TRIES_PER_CODE}},
                                                {"$inc": {"wrong": 1}})
        if taken.modified_count:
            tries.append(doc["_id"])
    return tries


async def purge(db, now: int) -> None:
    """Codes a day old (no cap counts them any more) and counts untouched for two days."""
    await db.login_codes.delete_many({"sent_at": {"$lt": now - DAY_MS}})
    await db.login_guards.delete_many({"touched_at": {"$lt": now - 2 * DAY_MS}})
