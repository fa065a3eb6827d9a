"""Payments of deposits and top-ups, and what becomes of every payment
(payments.py; an order's is started by checkout.py): paid, closed, or paid
too late.

A gateway's verified notification, the payer's active query, the close
timer and the recovery sweep all come here, and each outcome is one
conditional move of the payment, so however often and wherever they race,
one of them makes it:
- paid (`pending → paid`): only when the trade number is ours, for the
  gateway it went through, and the amount is ours; then its effect, once —
  the order paid (checkout.settle_order), the deposit paid
  (deposits.confirm_gateway_payment), the top-up credited;
- closed (`pending → closed`) at its expiry, when the gateway says it
  closed, or when the sandbox's payer declines: what it held goes back
  (checkout.unwind_order; a deposit attempt `closed`);
- paid after it closed: `closed → refunded`, the money sent back through
  the gateway (refunds.settle_gateway), never lost.
Nothing here calls a gateway but the expiry and the active query, which
ask it first whether the payment was made.
"""
import logging

from pymongo.errors import DuplicateKeyError

from domain import checkout, deposits, payments, refunds, wallet
from domain.deps import Deps
from domain.errors import AmountMismatch, Conflict, DomainError, GatewayUnavailable, NotFound
from domain.states import DEPOSIT, move

log = logging.getLogger("gavel.payments")
STALE_MS = 60_000  # a balance payment still pending after this long was cut off by a crash


async def start_deposit(deps: Deps, user: dict, auction_id: str, lot_id: str, pay_type: str, base_url: str,
                        now: int) -> tuple[dict, dict | None]:
    """Pay a deposit from the balance (paid at once: no payment), or through a
    gateway: the deposit `unpaid` and its payment. Asked again while that
    payment is pending, the same deposit and payment."""
    db = deps.db
    if pay_type != "balance":
        payments.gateway_for(deps.gateways, pay_type)
    doc = await deposits.create(db, user, auction_id, lot_id, pay_type, now)
    if pay_type == "balance":
        return doc, None
    payment = payments.new("deposit", doc["_id"], user["_id"], doc["amount"], pay_type, f"保证金 {doc['uid']}", now,
                           now + deps.rules.payment_timeout_ms, out_trade_no=refunds.trade_no(doc))
    try:
        await payments.insert(db, payment)
    except DuplicateKeyError:
        payment = await db.payments.find_one({"_id": payment["_id"]})
        if payment["pay"]:
            return doc, payment
    return doc, await _open(deps, payment, base_url, now)


async def start_topup(deps: Deps, user: dict, amount: int, pay_type: str, base_url: str, now: int) -> dict:
    """Top up the balance through a gateway: credited when the gateway says it is paid."""
    payments.gateway_for(deps.gateways, pay_type)
    payment = payments.new("topup", "", user["_id"], amount, pay_type, "余额充值", now,
                           now + deps.rules.payment_timeout_ms)
    return await _open(deps, await payments.insert(deps.db, payment), base_url, now)


async def _open(deps: Deps, payment: dict, base_url: str, now: int) -> dict:
    if payment["status"] != "pending":
        raise Conflict("this payment has closed; start another")
    try:
        return await payments.open_at_gateway(deps.db, deps.events, deps.gateways, payment, base_url)
    except GatewayUnavailable:
        await close(deps.db, deps.events, payment["_id"], now, due=False)
        raise


async def _effect(db, events, payment: dict, now: int) -> None:
    if payment["purpose"] == "order":
        await checkout.settle_order(db, events, payment, now)
    elif payment["purpose"] == "deposit":
        deposit = await db.deposits.find_one({"_id": payment["ref"]}, {"uid": 1})
        await deposits.confirm_gateway_payment(db, deposit["uid"], payment["amount"], now)
    else:
        await wallet.append(db, payment["user_id"], "topup", payment["amount"], key=f"topup:{payment['_id']}",
                            now=now, ref=payment["_id"])
    await payments.finish(db, payment["_id"], "effect")


async def _unwind(db, events, payment: dict, now: int) -> None:
    if payment["purpose"] == "order":
        await checkout.unwind_order(db, events, payment, now)
    elif payment["purpose"] == "deposit":
        await move(db.deposits, DEPOSIT, {"_id": payment["ref"]}, "closed", "unpaid", set={"closed_at": now})


async def close(db, events, payment_id: str, now: int, due: bool = True) -> dict | None:
    return await payments.close(db, events, payment_id, now, lambda p: _unwind(db, events, p, now), due)


async def _paid(db, events, payment: dict, trade_no: str, paid_at: int, now: int) -> dict:
    """The gateway took the money: pay the payment and make its effect, or,
    if it had closed, send the money back."""
    paid = await payments.mark_paid(db, payment["_id"], now, trade_no, paid_at)
    if paid:
        await events.publish(payments.payment_event(paid))
    current = paid or await db.payments.find_one({"_id": payment["_id"]})
    if current["status"] == "closed":
        log.warning("payment %s was paid after it closed: refunding it", current["_id"])
        current = await payments.mark_refunded(db, current["_id"], now, trade_no) or current
    elif current["status"] == "paid" and current["effect"] == "pending":
        await _effect(db, events, current, now)
    return current


async def notified(deps: Deps, gateway: str, note, now: int) -> dict:
    """Apply a notification the gateway's adapter verified (signature, app,
    freshness). NotFound when the trade is not ours through that gateway,
    AmountMismatch when the amount is not ours: neither changes anything, and
    a retry would not either. A repeat changes nothing."""
    db = deps.db
    payment = await db.payments.find_one({"_id": note.out_trade_no})
    if not payment or payment["pay_type"] != gateway:
        raise NotFound(f"no {gateway} payment has this trade number")
    if note.amount != payment["amount"]:
        raise AmountMismatch(f"notified {note.amount}, expected {payment['amount']}", expected=payment["amount"])
    if note.status == "closed" and payment["status"] == "pending":
        await close(db, deps.events, payment["_id"], now, due=False)  # ("closed" after paid: a full refund)
    elif note.status == "paid":
        payment = await _paid(db, deps.events, payment, note.trade_no, note.paid_at, now)
        deps.background(refunds.settle_gateway(db, deps.gateways, now))  # after the answer: a late one, a deposit's
    return await db.payments.find_one({"_id": payment["_id"]})


async def _ask_gateway(gateways: dict, payment: dict):
    """The gateway's view of a pending payment: a notification-like answer,
    or None (sandbox, unknown there, unreachable or another amount)."""
    gateway = gateways.get(payment["pay_type"])
    if gateway is None or gateway.sandbox:
        return None
    try:
        note = await gateway.query(payment["_id"])
    except GatewayUnavailable as exc:
        log.warning("could not ask %s about %s: %s", payment["pay_type"], payment["_id"], exc)
        return None
    if note and note.amount != payment["amount"]:
        log.error("%s reports %s for %s, expected %s", payment["pay_type"], note.amount, payment["_id"],
                  payment["amount"])
        return None
    return note


async def look_up(deps: Deps, user: dict, out_trade_no: str, now: int) -> dict:
    """The payer's active query: a pending gateway payment is asked about
    (alipay.trade.query, WeChat's query by out_trade_no) and follows what the
    gateway says; in sandbox, or from the balance, the document is the answer."""
    payment = await payments.get_for(deps.db, user, out_trade_no)
    if payment["status"] == "pending":
        note = await _ask_gateway(deps.gateways, payment)
        if note and note.status == "paid":
            await _paid(deps.db, deps.events, payment, note.trade_no, note.paid_at, now)
        elif note and note.status == "closed":
            await close(deps.db, deps.events, payment["_id"], now, due=False)
        payment = await deps.db.payments.find_one({"_id": out_trade_no})
    return payment


async def decline(deps: Deps, out_trade_no: str, now: int) -> dict:
    """The sandbox payer declines at the gateway's page: the trade closes."""
    payment = await deps.db.payments.find_one({"_id": out_trade_no})
    gateway = payment and deps.gateways.get(payment["pay_type"])
    if not gateway or not gateway.sandbox:
        raise NotFound("no sandbox payment has this trade number")
    if payment["status"] != "pending":
        raise Conflict(f"this payment is {payment['status']} already")
    await close(deps.db, deps.events, out_trade_no, now, due=False)
    return await deps.db.payments.find_one({"_id": out_trade_no})


async def close_due(db, events, gateways: dict, payment_id: str, now: int) -> dict | None:
    """A gateway payment at its expiry: asked about first, so one the gateway
    took is paid rather than closed; otherwise closed. Returns it as it is now
    (still pending if it is not due yet)."""
    payment = await db.payments.find_one({"_id": payment_id})
    if not payment or payment["status"] != "pending" or payment["expires_at"] > now:
        return payment
    note = await _ask_gateway(gateways, payment)
    if note and note.status == "paid":
        return await _paid(db, events, payment, note.trade_no, note.paid_at, now)
    return await close(db, events, payment_id, now) or await db.payments.find_one({"_id": payment_id})


async def recover(db, events, gateways: dict, now: int) -> None:
    """For the recovery sweep: balance payments a crash cut short finished or
    given back, expired gateway payments closed (timers lost with a node),
    effects and unwindings finished, gateway refunds asked for again."""
    async for payment in db.payments.find({"status": "pending"}):
        if payment["pay_type"] == "balance" and payment["created_at"] <= now - STALE_MS:
            try:
                await checkout.finish_internally(db, events, payment, now)
            except DomainError as exc:
                log.info("payment %s closed by the sweep: %s", payment["_id"], exc.message)
        elif payment["pay_type"] != "balance" and payment["expires_at"] <= now:
            await close_due(db, events, gateways, payment["_id"], now)
    async for payment in db.payments.find({"effect": "pending"}):
        await _effect(db, events, payment, now)
    async for payment in db.payments.find({"unwind": "pending"}, {"_id": 1}):
        await close(db, events, payment["_id"], now)
    if gateways:
        await refunds.settle_gateway(db, gateways, now)
