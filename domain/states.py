"""Every lifecycle as an explicit table, its Chinese labels (docs/rules.md,
"Glossary and states"), and the one function every state change goes through.

A table maps each state to the states it may be entered from. `move` turns
that into a conditional update with the allowed sources in the filter, so a
repeated timer, a second node or a race changes nothing; a move the table
does not allow is refused before it reaches the store (`IllegalMove`: a bug
in the caller, not a user's mistake). A caller that means fewer sources than
the table allows names them (`frm`): a timer bringing lots live must not
resume a paused one, though an operator's resume may.
"""
from collections.abc import Iterable

from pymongo import ReturnDocument

AUCTION_TEXT = {"scheduled": "未开拍", "preview": "预展中", "live": "拍卖中", "ended": "已结束"}
LOT_TEXT = {
    "scheduled": "未开拍", "preview": "预展中", "live": "拍卖中", "paused": "暂停",
    "sold": "成交", "unsold": "流拍", "overdue": "逾期未支付",
}
BID_TEXT = {"bidding": "竞价", "won": "成交", "overdue": "逾期未付款", "void": "已撤销"}
DEPOSIT_TEXT = {"unpaid": "未支付", "paid": "支付成功", "closed": "已关闭"}  # closed: its gateway payment timed out
DEPOSIT_KIND_TEXT = {"lot": "单品保证金", "auction": "全场保证金"}
# What became of a paid deposit's money (an unpaid one has state "").
DEPOSIT_STATE_TEXT = {
    "held": "冻结中", "refunding": "退款中", "refunded": "已退还", "forfeiting": "扣除中",
    "forfeited": "已扣除", "using": "支付中", "used": "已抵扣",
}
REFUND_TEXT = {"pending": "待退款", "done": "退款成功"}
DEDUCTION_TEXT = {"overdue": "逾期扣款", "payment": "支付抵扣"}
ORDER_TEXT = {"unpaid": "待支付", "to_receive": "待收货", "completed": "已完成", "overdue": "逾期未支付"}
OFFER_TEXT = {"pending": "待确认", "accepted": "已接受", "declined": "已放弃", "expired": "已过期"}
COUPON_TEXT = {"pending": "未开始", "claiming": "领取中", "ended": "已结束"}
# `pending`: a claim stored but not yet counted (domain/coupons.py); `locked`: held by a pending payment.
USER_COUPON_TEXT = {"unused": "未使用", "used": "已使用", "expired": "已过期", "pending": "领取中", "locked": "锁定中"}
PAYMENT_TEXT = {"pending": "待支付", "paid": "已支付", "closed": "已关闭", "refunded": "已退款"}
CREDIT_KIND_TEXT = {"earned": "订单奖励", "spent": "抵扣", "returned": "退回", "granted": "运营调整"}

LOT_OPEN = ("scheduled", "preview", "live", "paused")


class IllegalMove(Exception):
    """A state change its table does not allow: a bug in the caller."""


class Machine:
    """One lifecycle: its states with their labels, and for each state the
    states it may be entered from. `field` is where a document keeps it."""

    def __init__(self, name: str, labels: dict[str, str], moves: dict[str, tuple[str, ...]], field: str = "status"):
        for to, sources in moves.items():
            unknown = [s for s in (to, *sources) if s and s not in labels]
            if unknown:
                raise ValueError(f"{name}: unknown states {unknown}")
        self.name, self.labels, self.moves, self.field = name, labels, moves, field

    def text(self, state: str) -> str:
        return self.labels.get(state, "")

    def allows(self, frm: str, to: str) -> bool:
        return frm in self.moves.get(to, ())

    def sources(self, to: str, frm: str | Iterable[str] | None = None) -> tuple[str, ...]:
        """The states a move to `to` may start from: all the table allows, or
        those of `frm`, each of which the table must allow."""
        allowed = self.moves.get(to)
        if allowed is None:
            raise IllegalMove(f"{self.name}: nothing moves to {to!r}")
        if frm is None:
            return allowed
        wanted = (frm,) if isinstance(frm, str) else tuple(frm)
        refused = [s for s in wanted if s not in allowed]
        if refused or not wanted:
            raise IllegalMove(f"{self.name}: {refused or wanted} → {to!r} is not a move of its table")
        return wanted

    def guard(self, to: str, frm: str | Iterable[str] | None = None) -> dict:
        """The filter that makes a move to `to` conditional on a state it may start from."""
        sources = self.sources(to, frm)
        return {self.field: sources[0] if len(sources) == 1 else {"$in": list(sources)}}


AUCTION = Machine("auction", AUCTION_TEXT, {
    "preview": ("scheduled",),
    "live": ("scheduled", "preview"),
    "ended": ("live",),
})
LOT = Machine("lot", LOT_TEXT, {
    "preview": ("scheduled",),
    "live": ("scheduled", "preview", "paused"),  # paused → live is the operator's resume
    "paused": ("live",),
    "sold": ("live", "overdue"),                 # overdue → sold: a second-chance award
    "unsold": ("live",),
    "overdue": ("sold",),
})
BID = Machine("bid", BID_TEXT, {
    "won": ("bidding",),
    "overdue": ("won",),
    "void": ("bidding",),
})
ORDER = Machine("order", ORDER_TEXT, {
    "to_receive": ("unpaid",),
    "completed": ("to_receive",),
    "overdue": ("unpaid",),
})
DEPOSIT = Machine("deposit", DEPOSIT_TEXT, {"paid": ("unpaid",), "closed": ("unpaid",)})
# `using`: claimed by an order's payment under way (checkout.py); it ends `used`
# (nothing left), back `held` (the rest kept, or the payment closed) or `refunding` (the rest).
DEPOSIT_MONEY = Machine("deposit money", DEPOSIT_STATE_TEXT, {
    "held": ("", "using"),
    "using": ("held",),
    "used": ("using",),
    "refunding": ("held", "using"),
    "refunded": ("held", "refunding"),
    "forfeiting": ("held",),
    "forfeited": ("forfeiting",),
}, field="state")
REFUND = Machine("refund", REFUND_TEXT, {"done": ("pending",)})
OFFER = Machine("offer", OFFER_TEXT, {
    "accepted": ("pending",),
    "declined": ("pending",),
    "expired": ("pending",),
})
COUPON = Machine("coupon", COUPON_TEXT, {
    "claiming": ("pending",),
    "ended": ("claiming",),
})
USER_COUPON = Machine("user coupon", USER_COUPON_TEXT, {
    "unused": ("pending", "locked"),  # locked → unused: the payment closed and gives it back
    "locked": ("unused",),
    "used": ("locked",),
    "expired": ("unused",),
})
# A payment (payments.py): `refunded` is a late notification's money, sent back
# (a closed payment the buyer paid anyway); its refund is `refund_status`.
PAYMENT = Machine("payment", PAYMENT_TEXT, {
    "paid": ("pending",),
    "closed": ("pending",),
    "refunded": ("closed",),
})
PAYMENT_REFUND = Machine("payment refund", REFUND_TEXT, {"done": ("pending",)}, field="refund_status")

MACHINES = (AUCTION, LOT, BID, ORDER, DEPOSIT, DEPOSIT_MONEY, REFUND, OFFER, COUPON, USER_COUPON, PAYMENT,
            PAYMENT_REFUND)


async def move(collection, machine: Machine, query: dict, to: str, frm: str | Iterable[str] | None = None, *,
               set: dict | None = None, inc: dict | None = None) -> dict | None:
    """Move one document to `to` if it is in a state it may move from: the
    document after the move, or None when it was not (moved already, by a
    repeat or another node, or never could)."""
    update: dict = {"$set": {machine.field: to, **(set or {})}}
    if inc:
        update["$inc"] = inc
    return await collection.find_one_and_update({**query, **machine.guard(to, frm)}, update,
                                                return_document=ReturnDocument.AFTER)


async def move_many(collection, machine: Machine, query: dict, to: str, frm: str | Iterable[str] | None = None, *,
                    set: dict | None = None) -> int:
    """`move` for every document matching `query`; how many moved."""
    done = await collection.update_many({**query, **machine.guard(to, frm)}, {"$set": {machine.field: to, **(set or {})}})
    return done.modified_count
