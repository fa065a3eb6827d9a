"""Statuses and their Chinese labels (spec/domain.md, "Glossary and states"),
and the lifecycles as explicit (from-states → to-state) tables."""

AUCTION_TEXT = {"scheduled": "未开拍", "preview": "预展中", "live": "拍卖中", "ended": "已结束"}
LOT_TEXT = {
    "scheduled": "未开拍", "preview": "预展中", "live": "拍卖中", "paused": "暂停",
    "sold": "成交", "unsold": "流拍", "overdue": "逾期未支付",
}
BID_TEXT = {"bidding": "竞价", "won": "成交", "overdue": "逾期未付款", "void": "已撤销"}
DEPOSIT_TEXT = {"unpaid": "未支付", "paid": "支付成功"}
DEPOSIT_KIND_TEXT = {"lot": "单品保证金", "auction": "全场保证金"}
# What became of a paid deposit's money (an unpaid one has state "").
DEPOSIT_STATE_TEXT = {
    "held": "冻结中", "refunding": "退款中", "refunded": "已退还", "forfeiting": "扣除中",
    "forfeited": "已扣除",
}
REFUND_TEXT = {"pending": "待退款", "done": "退款成功"}
DEDUCTION_TEXT = {"overdue": "逾期扣款", "payment": "支付抵扣"}
ORDER_TEXT = {"unpaid": "待支付", "to_receive": "待收货", "completed": "已完成", "overdue": "逾期未支付"}
COUPON_TEXT = {"pending": "未开始", "claiming": "领取中", "ended": "已结束"}
USER_COUPON_TEXT = {"unused": "未使用", "used": "已使用", "expired": "已过期"}

# to-state: the states it may be entered from. A transition is always a
# conditional update with `status: {"$in": FROM}` in the filter.
AUCTION_MOVES = {
    "preview": ("scheduled",),
    "live": ("scheduled", "preview"),
    "ended": ("live",),
}
LOT_MOVES = {
    "preview": ("scheduled",),
    "live": ("scheduled", "preview"),
    "paused": ("live",),
    "sold": ("live",),
    "unsold": ("live",),
    "overdue": ("sold",),
}
LOT_OPEN = ("scheduled", "preview", "live", "paused")
