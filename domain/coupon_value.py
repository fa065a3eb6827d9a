"""What a coupon is and what it is worth: its terms checked, the amount it
takes off a price, whether it applies to an order, and when a claimed one
expires. Pure functions of the documents (seeds 003/004: 通用券 / 满减券 /
折扣券, a coupon bound to one item or to none, a use window or a number of
days after claiming; day05: a session's coupons expire a day after it ends).

A user coupon carries a copy of its coupon's terms (they cannot change once
claiming starts), so each function here takes either document.
"""
from domain.errors import OutOfRange
from domain.rules import DAY_MS, Rules

KIND_TEXT = {"cash": "立减券", "threshold": "满减券", "discount": "折扣券"}
SCOPE_TEXT = {"general": "通用", "auction": "专场", "lot": "拍品"}
TERMS = ("title", "cover", "kind", "value", "min_spend", "max_off", "scope", "auction_id", "lot_id", "use_start")


def check_terms(doc: dict, now: int) -> None:
    """The rules between fields that no single field's type can say (422)."""
    kind, value = doc["kind"], doc["value"]
    if kind == "discount" and not 1 <= value <= 99:
        raise OutOfRange("a discount's value is the percent paid, 1–99 (88 = pay 88 %)")
    if kind == "threshold" and doc["min_spend"] <= 0:
        raise OutOfRange("a threshold coupon needs min_spend")
    if kind != "threshold" and doc["min_spend"]:
        raise OutOfRange("min_spend is for threshold coupons only")
    if kind != "discount" and doc["max_off"]:
        raise OutOfRange("max_off is for discount coupons only")
    if not doc["claim_start"] < doc["claim_end"]:
        raise OutOfRange("claim_start must be before claim_end")
    if doc["claim_end"] <= now:
        raise OutOfRange("claim_end has passed")
    window = doc["use_start"] or doc["use_end"]
    if window and not 0 < doc["use_start"] < doc["use_end"]:
        raise OutOfRange("a use window needs use_start before use_end")
    if window and doc["use_end"] <= doc["claim_start"]:
        raise OutOfRange("the use window must end after claiming starts")
    if window and doc["valid_days"]:
        raise OutOfRange("give either a use window or valid_days, not both")
    if not window and not doc["valid_days"] and doc["scope"] == "general":
        raise OutOfRange("a general coupon needs a use window or valid_days")


def amount_off(terms: dict, price: int) -> int:
    """Cents off `price`, never more than the price; 0 when it does not apply.
    A discount of `value` % to pay rounds the payment down: the buyer's favour."""
    kind, value = terms["kind"], terms["value"]
    if kind == "cash":
        return min(value, price)
    if kind == "threshold":
        return min(value, price) if price >= terms["min_spend"] else 0
    off = price - price * value // 100
    return min(off, terms["max_off"]) if terms["max_off"] else off


def applies_to(terms: dict, order: dict) -> bool:
    """General coupons apply to any order; the others to their session's or lot's."""
    scope = terms["scope"]
    if scope == "lot":
        return terms["lot_id"] == order["lot_id"]
    return scope == "general" or terms["auction_id"] == order["auction_id"]


def session_end(auction: dict, rules: Rules) -> int:
    """When a session's coupons expire: its end (or the moment it ended, if
    later: a late bid extends it) + COUPON_EXPIRE_SECONDS."""
    return max(auction["auction_end"], auction.get("ended_at", 0)) + rules.coupon_expire_ms


def valid_until(coupon: dict, claimed_at: int) -> int:
    """The coupon's own end for a claim at `claimed_at` (0: none of its own)."""
    if coupon["use_end"]:
        return coupon["use_end"]
    return claimed_at + coupon["valid_days"] * DAY_MS if coupon["valid_days"] else 0


def expiry(own_end: int, session_ends: int) -> int:
    """A user coupon expires at the first of its own end and its session's (0s are "none")."""
    return min(t for t in (own_end, session_ends) if t) if own_end or session_ends else 0
