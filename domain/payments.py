"""Payments (支付单): one attempt to take money for a purpose — a deposit, an
order, a top-up — through the balance or a gateway.

A payment is a document keyed by its `out_trade_no`, fresh for every
attempt (a gateway deposit is an attempt of its own: its payment is named
after its serial), with its own lifecycle (states.PAYMENT): `pending →
paid | closed`, and `closed → refunded` when the buyer paid after all. Each
move is one conditional write, so a notification delivered ten times, a
timer on two nodes and an active query racing them make one move between
them; what a move entails (`effect` on paid, `unwind` on closed, the refund
of a late payment) is recorded on the document, `"pending"` then `"done"`,
and finished by the recovery sweep when a crash cuts it short
(settlement.py applies them).
"""
from domain.errors import Conflict, GatewayUnavailable, NotFound
from domain.ids import readable_serial
from domain.states import PAYMENT, move

PURPOSES = ("deposit", "order", "topup")
NOTIFY_PATH = "/api/payments/{gateway}/notify"
RETURN_PATH = "/api/payments/alipay/return"


def payment_event(payment: dict) -> dict:
    """Announced when a gateway payment starts or moves: its close timer follows it."""
    return {"type": "payment", "payment": payment["_id"], "status": payment["status"],
            "expires_at": payment["expires_at"], "pay_type": payment["pay_type"], "user": payment["user_id"]}


def new(purpose: str, ref: str, user_id: str, amount: int, pay_type: str, subject: str, now: int, expires_at: int,
        out_trade_no: str = "", **extra) -> dict:
    """A pending payment, every field initialised (the order's breakdown in `extra`)."""
    assert purpose in PURPOSES and isinstance(amount, int) and amount >= 0
    trade = out_trade_no or readable_serial(now, "P")
    return {
        "_id": trade, "purpose": purpose, "ref": ref, "user_id": user_id, "amount": amount, "pay_type": pay_type,
        "subject": subject[:64], "status": "pending", "created_at": now, "expires_at": expires_at, "paid_at": 0,
        "closed_at": 0, "trade_no": "", "pay": {}, "effect": "", "unwind": "", "refund_status": "", "refunded_at": 0,
        "try_at": 0, "order": {}, "deposit_refund": -1, **extra,
    }


async def insert(db, doc: dict) -> dict:
    await db.payments.insert_one(doc)
    return doc


async def get_for(db, user: dict, out_trade_no: str) -> dict:
    """A payment, to its payer or an operator."""
    doc = await db.payments.find_one({"_id": out_trade_no})
    if not doc or (doc["user_id"] != user["_id"] and user["role"] != "operator"):
        raise NotFound("no such payment")
    return doc


def gateway_for(gateways: dict, pay_type: str):
    gateway = gateways.get(pay_type)
    if gateway is None:
        raise Conflict(f"{pay_type} payments are not available here")
    return gateway


async def open_at_gateway(db, events, gateways: dict, payment: dict, base_url: str) -> dict:
    """Ask the gateway how the payer pays (a URL, a QR code's URL or the
    mini-program's parameters), keep it on the payment and arm its close.
    GatewayUnavailable when the gateway did not answer (the caller closes it)."""
    gateway = gateway_for(gateways, payment["pay_type"])
    try:
        pay = await gateway.create(payment["_id"], payment["amount"], payment["subject"],
                                   base_url + NOTIFY_PATH.format(gateway=payment["pay_type"]), base_url + RETURN_PATH,
                                   payment["expires_at"])
    except GatewayUnavailable:
        raise GatewayUnavailable(f"{payment['pay_type']} did not answer; nothing was charged, try again later") from None
    done = await db.payments.find_one_and_update({"_id": payment["_id"]}, {"$set": {"pay": pay}}, return_document=True)
    await events.publish(payment_event(done))
    return done


async def mark_paid(db, payment_id: str, now: int, trade_no: str = "", paid_at: int = 0) -> dict | None:
    """`pending → paid`, its effect opened in the same write; None if it was not pending."""
    return await move(db.payments, PAYMENT, {"_id": payment_id}, "paid",
                      set={"paid_at": paid_at or now, "trade_no": trade_no, "effect": "pending"})


async def mark_closed(db, payment_id: str, now: int, due: bool = True) -> dict | None:
    """`pending → closed` (at its expiry, unless `due` is False), its unwinding opened."""
    query = {"_id": payment_id, **({"expires_at": {"$lte": now}} if due else {})}
    return await move(db.payments, PAYMENT, query, "closed", set={"closed_at": now, "unwind": "pending"})


async def mark_refunded(db, payment_id: str, now: int, trade_no: str) -> dict | None:
    """A closed payment the buyer paid anyway: `closed → refunded`, its refund pending."""
    return await move(db.payments, PAYMENT, {"_id": payment_id}, "refunded",
                      set={"refund_status": "pending", "refunded_at": now, "trade_no": trade_no, "try_at": 0})


async def finish(db, payment_id: str, step: str) -> None:
    """An effect or unwinding done (`step`: "effect" | "unwind")."""
    await db.payments.update_one({"_id": payment_id, step: "pending"}, {"$set": {step: "done"}})


async def close(db, events, payment_id: str, now: int, unwind, due: bool = True) -> dict | None:
    """Close a pending payment (once it has expired, or at once when `due` is
    False) and give back what it held (`await unwind(payment)`, whose steps are
    each conditional), once; also finishes an unwinding a crash cut short.
    The payment as closed, or None when it was not pending."""
    closed = await mark_closed(db, payment_id, now, due)
    if closed:
        await events.publish(payment_event(closed))
    doc = closed or await db.payments.find_one({"_id": payment_id, "unwind": "pending"})
    if doc:
        await unwind(doc)
        await finish(db, payment_id, "unwind")
    return closed
