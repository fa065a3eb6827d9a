"""Credits (积分, seed `004`): a balance of points with its own append-only
ledger, kept exactly like the money (wallet.py): keyed lines under a unique
per-user sequence, so a repeated step changes nothing and two spends can
never use the same credits.

Earned when an order completes (`credits_per_yuan` per yuan paid), granted
or taken by an operator (audited), spent at checkout at `credit_to_money`
credits per yuan: a payment spends them when it starts (`spend:{payment}`)
and gives them back if it closes (`return:{payment}`).
"""
from math import gcd

from domain import audit
from domain.errors import InsufficientBalance, NotFound, OutOfRange
from domain.ids import new_id
from domain.wallet import append_line

KINDS = ("earned", "spent", "returned", "granted")


async def held(db, user_id: str) -> int:
    last = await db.credit_lines.find_one({"user_id": user_id}, sort=[("seq", -1)])
    return last["credits_after"] if last else 0


async def append(db, user_id: str, kind: str, amount: int, key: str, now: int, ref: str = "") -> dict:
    """Add `amount` credits (negative to take), once per `key`; never below zero."""
    assert kind in KINDS and isinstance(amount, int)
    return await append_line(db.credit_lines, "credits_after", user_id, kind, amount, key, now, ref,
                             lambda have: InsufficientBalance(f"{-amount} credits asked, {have} held", credits=have))


async def lines(db, user_id: str, limit: int = 50) -> list[dict]:
    return await db.credit_lines.find({"user_id": user_id}).sort("seq", -1).limit(limit).to_list(None)


def worth(credits: int, credit_to_money: int) -> int:
    """What `credits` take off a price, in cents; they must come to whole cents."""
    if credits * 100 % credit_to_money:
        raise OutOfRange(f"credits are spent in multiples of {credit_to_money // gcd(credit_to_money, 100)}")
    return credits * 100 // credit_to_money


def most_usable(have: int, max_credit: int, price: int, credit_to_money: int) -> int:
    """The most credits one order may take: what the user holds, what the lot
    allows, and no more than its price is worth (in whole cents)."""
    step = credit_to_money // gcd(credit_to_money, 100)
    cap = min(have, max_credit, price * credit_to_money // 100)
    return cap - cap % step


def earned_for(paid_cents: int, credits_per_yuan: int) -> int:
    return paid_cents // 100 * credits_per_yuan


async def grant(db, operator: str, user_id: str, amount: int, reason: str, now: int) -> dict:
    """An operator's grant (or, negative, a take), audited."""
    if not await db.users.find_one({"_id": user_id}, {"_id": 1}):
        raise NotFound("no such user")
    line = await append(db, user_id, "granted", amount, key=f"grant:{new_id()}", now=now, ref=reason)
    await audit.record(db, user_id, "credits", now, actor=operator, amount=amount, reason=reason, seq=line["seq"])
    return line


async def earn_for_order(db, order_id: str, credits_per_yuan: int, now: int) -> None:
    """The credits a completed order earns, once (`earn: "pending"` → `"done"`)."""
    order = await db.orders.find_one({"_id": order_id, "earn": "pending"})
    if not order:
        return
    amount = earned_for(order["deposit_used"] + order["paid_amount"], credits_per_yuan)
    if amount:
        await append(db, order["user_id"], "earned", amount, key=f"earned:{order_id}", now=now, ref=order["order_no"])
    await db.orders.update_one({"_id": order_id, "earn": "pending"}, {"$set": {"earn": "done"}})
