"""Checkout and the payment of an order (docs/rules.md, "Paying an
order"; seeds day06 §2.3 and `004`).

The breakdown is a pure function (`breakdown`). With P the deal price, C a
coupon's value for P or the credits' worth, D what remains of the deposit
backing the order: the deposit pays min(P − C, D); the rest of the deposit
goes back unless it is a session deposit still backing another order of the
buyer; P − C − D, if positive, is paid from the balance (all or nothing) or
through a gateway.

Paying is a saga on documents that each own their state, every step keyed
or conditional (spec "Atomicity without transactions"):
1. a payment is inserted `pending` with the breakdown (payments.py), and
   claims the order (`order.payment`, one conditional write: of two
   concurrent pay calls one gets it, the other's payment is deleted);
2. from the balance: the debit (ledger key `payment:{payment}`) comes first,
   so that too little money changes nothing anywhere;
3. holds: the deposit `held → using` (by this payment), credits spent
   (`spend:{payment}`), the coupon locked;
4. from the balance, at once, or through a gateway, when its notification
   comes (settlement.py): `pending → paid`, then `settle_order` — the
   deduction (kind `payment`), the deposit `used`, `held` or `refunding`
   (and its refund paid out), the coupon spent, the order `to_receive` with
   the breakdown and the address.
A payment that fails or closes gives back what it holds (`unwind_order`).
The recovery sweep finishes any of these a crash cut short.
"""
from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import addresses, audit, coupons, credits, deposits, orders, payments, refunds, wallet
from domain.deps import Deps
from domain.errors import (Conflict, CouponUnavailable, DomainError, InsufficientBalance, NotFound,
                           OrderNotPayable, OutOfRange)
from domain.states import DEPOSIT_MONEY, ORDER, ORDER_TEXT, move


class Breakdown(NamedTuple):
    price: int
    coupon: int           # what the coupon takes off
    credits: int          # credits spent
    credits_amount: int   # what they take off
    deposit_used: int
    deposit_refund: int   # what goes back of the deposit
    to_pay: int           # from the balance or through a gateway


def breakdown(price: int, deposit_remaining: int, keep_rest: bool, coupon: int = 0, credits_spent: int = 0,
              credits_amount: int = 0) -> Breakdown:
    """The payment of an order, from its price, one discount (a coupon's value
    or credits' worth, never both, never more than the price) and what is left
    of its deposit, which keeps its rest when it still backs another order."""
    assert not (coupon and credits_amount), "one coupon or credits, never both"
    coupon, credits_amount = min(coupon, price), min(credits_amount, price)
    due = price - coupon - credits_amount
    used = min(due, deposit_remaining)
    rest = deposit_remaining - used
    return Breakdown(price, coupon, credits_spent, credits_amount, used, 0 if keep_rest else rest, due - used)


# --- reading --------------------------------------------------------------
async def _payable(db, user: dict, order_id: str, now: int) -> dict:
    order = await orders.of_buyer(db, user, order_id)
    if order["status"] != "unpaid" or order["deadline"] <= now:
        status = ORDER_TEXT[order["status"]] if order["status"] != "unpaid" else "past its deadline"
        raise OrderNotPayable(f"this order cannot be paid: {status}")
    return order


async def _backs_another(db, deposit_id: str, order_id: str) -> bool:
    """A session deposit still backing another order of its holder: one that
    may yet be paid, or one gone overdue whose forfeit is still to come."""
    async for other in db.orders.find({"deposit_id": deposit_id}, {"status": 1, "forfeit": 1}):
        if other["_id"] != order_id and (other["status"] == "unpaid" or other["forfeit"] == "pending"):
            return True
    return False


async def backing(db, order: dict) -> tuple[dict | None, int, bool]:
    """The deposit backing the order, what of it may pay (0 once it is spent,
    refunded or forfeited), and whether its rest stays after this order."""
    dep = await db.deposits.find_one({"_id": order["deposit_id"]}) if order["deposit_id"] else None
    if not dep or dep["status"] != "paid" or dep["state"] not in ("held", "using"):
        return dep, 0, False
    keep = dep["kind"] == "auction" and await _backs_another(db, dep["_id"], order["_id"])
    return dep, dep["remaining"], keep


async def view(deps: Deps, user: dict, order_id: str, now: int) -> dict:
    """What the pay page needs, each part read once, and the breakdown without
    a discount worked out from exactly those parts; the usable coupons with
    what each takes off."""
    db, rules = deps.db, deps.rules
    order = await orders.of_buyer(db, user, order_id)  # the caller's balance, credits and addresses are the buyer's
    lot = await db.lots.find_one({"_id": order["lot_id"]}, {"max_credit": 1})
    dep, remaining, keep = await backing(db, order)
    held, balance = await credits.held(db, user["_id"]), await wallet.balance(db, user["_id"])
    found, default = await addresses.of_user(db, user["_id"])
    return {
        "order": order, "deposit": dep, "deposit_remaining": remaining, "deposit_keeps_rest": keep,
        "balance": balance, "addresses": found, "default_address": default,
        "credits": held, "max_credit": lot["max_credit"],
        "credits_usable": credits.most_usable(held, lot["max_credit"], order["price"], rules.credit_to_money),
        "credit_to_money": rules.credit_to_money, "coupons": await coupons.usable_for_order(db, order, now),
        "breakdown": breakdown(order["price"], remaining, keep),
        "pay_types": ["balance", *deps.gateways],
        "payment": await db.payments.find_one({"_id": order["payment"]}) if order["payment"] else None,
    }


# --- paying -----------------------------------------------------------------
async def _discount(db, user: dict, order: dict, coupon_id: str, spend: int, rules, now: int) -> tuple[int, int]:
    """(coupon value, credits' worth) of what the buyer asked to use."""
    if coupon_id:
        if not await db.user_coupons.find_one({"_id": coupon_id, "user_id": user["_id"]}, {"_id": 1}):
            raise NotFound("no such coupon")
        usable = {u.user_coupon["_id"]: u.amount for u in await coupons.usable_for_order(db, order, now)}
        if coupon_id not in usable:
            raise CouponUnavailable("this coupon is used, expired, held by another payment or not for this lot")
        return usable[coupon_id], 0
    if not spend:
        return 0, 0
    lot = await db.lots.find_one({"_id": order["lot_id"]}, {"max_credit": 1})
    if spend > lot["max_credit"]:
        raise OutOfRange(f"this lot takes at most {lot['max_credit']} credits", max_credit=lot["max_credit"])
    held = await credits.held(db, user["_id"])
    if spend > held:
        raise InsufficientBalance(f"{spend} credits asked, {held} held", credits=held)
    amount = credits.worth(spend, rules.credit_to_money)
    if amount > order["price"]:
        raise OutOfRange("the credits are worth more than the price")
    return 0, amount


async def pay(deps: Deps, user: dict, order_id: str, address_id: str, pay_type: str, now: int, base_url: str,
              coupon_id: str = "", spend: int = 0) -> tuple[dict, Breakdown, dict]:
    """Pay an order: (the order, its breakdown, the payment). From the balance
    it is paid on return; through a gateway the payment is `pending` with how
    to pay, and the order is paid when the gateway's notification comes."""
    db, events = deps.db, deps.events
    order = await _payable(db, user, order_id, now)
    if order["payment"]:
        raise OrderNotPayable("a payment of this order is under way", payment=order["payment"])
    address = await addresses.get_own(db, user["_id"], address_id)
    coupon, credits_amount = await _discount(db, user, order, coupon_id, spend, deps.rules, now)
    dep, remaining, keep = await backing(db, order)
    if dep and dep["state"] == "using":
        raise Conflict("the deposit is held by a payment of another order under way; try again when it ends")
    bd = breakdown(order["price"], remaining, keep, coupon, spend, credits_amount)
    internal = pay_type == "balance" or not bd.to_pay
    if not internal:
        payments.gateway_for(deps.gateways, pay_type)
    elif bd.to_pay:
        balance = await wallet.balance(db, user["_id"])
        if bd.to_pay > balance:
            raise InsufficientBalance(f"balance {balance} is less than {bd.to_pay}", balance=balance)
    payment = payments.new(
        "order", order_id, user["_id"], bd.to_pay, "balance" if internal else pay_type, order["title"], now,
        min(now + deps.rules.payment_timeout_ms, order["deadline"]),
        order={**bd._asdict(), "deposit_id": dep["_id"] if remaining else "", "deposit_remaining": remaining,
               "coupon_id": coupon_id, "address": addresses.copy_for_order(address), "order_no": order["order_no"]})
    await payments.insert(db, payment)
    claim = await db.orders.update_one({"_id": order_id, "status": "unpaid", "payment": "", "deadline": {"$gt": now}},
                                       {"$set": {"payment": payment["_id"]}})
    if not claim.modified_count:
        await db.payments.delete_one({"_id": payment["_id"]})
        raise OrderNotPayable("another payment of this order came first")
    if internal:
        return await _pay_internally(deps, payment, now)
    try:
        await hold(db, payment, now)
        payment = await payments.open_at_gateway(db, events, deps.gateways, payment, base_url)
    except DomainError:  # refused a hold, or the gateway did not answer: give back what was taken
        await payments.close(db, events, payment["_id"], now, lambda p: unwind_order(db, events, p, now), due=False)
        raise
    return await db.orders.find_one({"_id": order_id}), bd, payment


async def _pay_internally(deps: Deps, payment: dict, now: int) -> tuple[dict, Breakdown, dict]:
    db, pid = deps.db, payment["_id"]
    if payment["amount"]:
        try:
            await wallet.append(db, payment["user_id"], "payment", -payment["amount"], key=f"payment:{pid}", now=now,
                                ref=payment["order"]["order_no"])
        except InsufficientBalance:  # spent meanwhile: undo the claim, and nothing has changed
            await db.orders.update_one({"_id": payment["ref"], "payment": pid}, {"$set": {"payment": ""}})
            await db.payments.delete_one({"_id": pid, "status": "pending"})
            raise
    order, paid = await finish_internally(db, deps.events, payment, now)
    planned = Breakdown(*(paid["order"][name] for name in Breakdown._fields))
    return order, planned._replace(deposit_refund=order["deposit_refund"]), paid


async def finish_internally(db, events, payment: dict, now: int) -> tuple[dict, dict]:
    """The rest of a payment from the balance once its debit is in: the holds,
    `paid`, the order settled. A refused hold closes it, the debit coming back.
    Also how the sweep finishes one a crash cut short, or closes it when it
    never claimed its order or was never debited."""
    pid, user_id = payment["_id"], payment["user_id"]
    claimed = await db.orders.find_one({"_id": payment["ref"], "payment": pid}, {"_id": 1})
    debited = not payment["amount"] or await db.ledger.find_one({"user_id": user_id, "key": f"payment:{pid}"},
                                                                {"_id": 1})
    try:
        if not (claimed and debited):
            raise Conflict("the payment was interrupted before it took anything")
        await hold(db, payment, now)
    except DomainError:
        await payments.close(db, events, pid, now, lambda p: unwind_order(db, events, p, now), due=False)
        raise
    paid = await payments.mark_paid(db, pid, now) or await db.payments.find_one({"_id": pid})
    if paid["status"] != "paid":
        raise Conflict("the payment was closed meanwhile; nothing was taken")
    order = await settle_order(db, events, paid, now)
    await payments.finish(db, pid, "effect")
    return order, paid


async def hold(db, payment: dict, now: int) -> None:
    """What a payment holds while it is pending: the deposit (`held → using`),
    the credits (spent now, returned if it closes), the coupon (locked)."""
    o, pid = payment["order"], payment["_id"]
    if o["deposit_remaining"]:
        query = {"_id": o["deposit_id"], "status": "paid", "remaining": o["deposit_remaining"]}
        if not (await move(db.deposits, DEPOSIT_MONEY, query, "using", "held", set={"use_payment": pid})
                or await db.deposits.find_one({"_id": o["deposit_id"], "state": "using", "use_payment": pid})):
            raise Conflict("the deposit changed meanwhile; look at the order again")
    if o["credits"]:
        await credits.append(db, payment["user_id"], "spent", -o["credits"], key=f"spend:{pid}", now=now,
                             ref=o["order_no"])
    if o["coupon_id"]:
        order = await db.orders.find_one({"_id": payment["ref"]})
        if (await coupons.lock_for_payment(db, order, o["coupon_id"], pid, now)).amount != o["coupon"]:
            raise CouponUnavailable("the coupon's value changed meanwhile; look at the order again")


async def unwind_order(db, events, payment: dict, now: int) -> None:
    """Give back what a closed payment held, each step only if it was taken,
    and free the order to be paid again (its deadline timer follows the event)."""
    o, pid, user_id = payment["order"], payment["_id"], payment["user_id"]
    if o["deposit_remaining"]:
        await move(db.deposits, DEPOSIT_MONEY, {"_id": o["deposit_id"], "use_payment": pid}, "held", "using",
                   set={"use_payment": ""})
    if o["coupon_id"]:
        await coupons.release_from_payment(db, o["coupon_id"], pid, now)
    if o["credits"] and await db.credit_lines.find_one({"user_id": user_id, "key": f"spend:{pid}"}, {"_id": 1}):
        await credits.append(db, user_id, "returned", o["credits"], key=f"return:{pid}", now=now, ref=o["order_no"])
    if payment["pay_type"] == "balance" and await db.ledger.find_one({"user_id": user_id, "key": f"payment:{pid}"}):
        await wallet.append(db, user_id, "refund", payment["amount"], key=f"refund:{pid}", now=now, ref=o["order_no"])
    freed = await db.orders.find_one_and_update({"_id": payment["ref"], "payment": pid}, {"$set": {"payment": ""}},
                                                return_document=True)
    if freed:
        await events.publish(orders.order_event(freed))


async def settle_order(db, events, payment: dict, now: int) -> dict:
    """What a paid order payment does, each step once: the deposit used (and
    its rest refunded or kept), the order `to_receive` with its breakdown."""
    o, pid, order_id = payment["order"], payment["_id"], payment["ref"]
    refund = await _use_deposit(db, events, payment, now)
    if o["coupon_id"]:
        await coupons.spend_for_order(db, o["coupon_id"], pid, order_id, now)
    await audit.record(db, order_id, "paid", now, key=f"paid:{order_id}", payment=pid, to_pay=payment["amount"],
                       deposit_used=o["deposit_used"], pay_type=payment["pay_type"])
    order = await move(db.orders, ORDER, {"_id": order_id, "payment": pid}, "to_receive", "unpaid", set={
        "coupon_id": o["coupon_id"], "coupon_amount": o["coupon"], "credits_used": o["credits"],
        "credits_amount": o["credits_amount"], "deposit_used": o["deposit_used"], "deposit_refund": refund,
        "paid_amount": payment["amount"], "pay_type": payment["pay_type"], "paid_at": payment["paid_at"],
        "address": o["address"]})
    if order:
        await events.publish(orders.order_event(order))
    return order or await db.orders.find_one({"_id": order_id})


async def _use_deposit(db, events, payment: dict, now: int) -> int:
    """The deduction, then the deposit `used`, `held` (its rest kept) or
    `refunding` (its rest paid back at once). Whether the rest is kept is
    decided once, when the payment is paid, and kept on the payment."""
    o, pid = payment["order"], payment["_id"]
    if not o["deposit_remaining"]:
        return 0
    dep_id, used = o["deposit_id"], o["deposit_used"]
    rest = o["deposit_remaining"] - used
    if payment["deposit_refund"] < 0:
        dep = await db.deposits.find_one({"_id": dep_id}, {"kind": 1})
        keep = rest and dep["kind"] == "auction" and await _backs_another(db, dep_id, payment["ref"])
        payment = await db.payments.find_one_and_update({"_id": pid, "deposit_refund": -1},
                                                        {"$set": {"deposit_refund": 0 if keep else rest}},
                                                        return_document=True) or await db.payments.find_one({"_id": pid})
    refund = payment["deposit_refund"]
    if used:
        try:
            await db.deposit_deductions.insert_one({
                "_id": f"payment:{payment['ref']}", "deposit_id": dep_id, "order_id": payment["ref"],
                "user_id": payment["user_id"], "kind": "payment", "amount": used, "created_at": now})
        except DuplicateKeyError:
            pass  # recorded before an interruption
    to = "refunding" if refund else "held" if rest else "used"
    moved = await move(db.deposits, DEPOSIT_MONEY, {"_id": dep_id, "use_payment": pid}, to, "using",
                       set={"remaining": rest, "use_payment": "", **({"refund_claimed_at": now} if refund else {})})
    await refunds.pay_claimed(db, {"_id": dep_id}, now)
    if moved:  # every node stops taking it as covering its session's open lots on trust
        await events.publish(deposits.deposit_event(moved))
    return refund
