"""Documents as the API shows them (docs/api.md, "Resources"): ISO times,
Chinese status labels, masked bidders, no internal fields."""
import logging
from collections.abc import Callable, Iterable
from domain.bidding import reserve_met
from domain.clock import to_iso
from domain.coupon_value import KIND_TEXT, SCOPE_TEXT
from domain.lots import next_min
from domain.states import (AUCTION_TEXT, BID_TEXT, COUPON_TEXT, CREDIT_KIND_TEXT, DEDUCTION_TEXT, DEPOSIT_KIND_TEXT,
                           DEPOSIT_STATE_TEXT, DEPOSIT_TEXT, LOT_TEXT, OFFER_TEXT, ORDER_TEXT, PAYMENT_TEXT, REFUND_TEXT,
                           USER_COUPON_TEXT)

log = logging.getLogger("gavel.render")


def each(docs: Iterable[dict], shape: Callable[[dict], dict]) -> list[dict]:
    """A list as the API shows it. A document that cannot be shown (written by
    hand, or by an older version, with a value out of range) is logged and
    left out: one bad document never takes a page down."""
    shown = []
    for doc in docs:
        try:
            shown.append(shape(doc))
        except Exception:
            log.exception("left %s out of a list: it cannot be shown", doc.get("_id"))
    return shown


def user(doc: dict, balance: int) -> dict:
    return {"id": doc["_id"], "phone": doc["phone"], "nickname": doc["nickname"],
            "role": doc["role"], "balance": balance}


def ledger_line(doc: dict) -> dict:
    return {"seq": doc["seq"], "kind": doc["kind"], "amount": doc["amount"],
            "balance_after": doc["balance_after"], "ref": doc["ref"], "created_at": to_iso(doc["created_at"])}


def auction(doc: dict, **extra) -> dict:
    out = {
        "id": doc["_id"], "title": doc["title"], "cover": doc["cover"], "video": doc["video"],
        "status": doc["status"], "status_text": AUCTION_TEXT[doc["status"]],
        "deposit": doc["deposit"], "extend_window_s": doc["extend_window_s"],
        "extend_by_s": doc["extend_by_s"], "max_extend_s": doc.get("max_extend_s", 0), "max_jump": doc["max_jump"],
        "lot_count": doc["lot_count"], "bid_count": doc["bid_count"],
        "look_count": doc["look_count"], "total_deal": doc["total_deal"],
    }
    for f in ("preview_start", "preview_end", "auction_start", "auction_end"):
        out[f] = to_iso(doc[f])
    return {**out, **extra}


def lot(doc: dict, **extra) -> dict:
    """A lot as bidders see it: whether its reserve is met, never the reserve (admin_lot has it)."""
    return {
        "id": doc["_id"], "auction_id": doc["auction_id"], "catalog_no": doc["catalog_no"],
        "title": doc["title"], "cover": doc["cover"],
        "images": sorted(doc["images"], key=lambda i: i["order"]), "specs": doc["specs"],
        "start_price": doc["start_price"], "increment": doc["increment"],
        "estimate_low": doc["estimate_low"], "estimate_high": doc["estimate_high"],
        "reserve_met": reserve_met(doc), "deposit": doc["deposit"],
        "status": doc["status"], "status_text": LOT_TEXT[doc["status"]],
        "price": doc["price"], "next_min": next_min(doc), "leader": doc["leader_name"],
        "bid_count": doc["bid_count"], "look_count": doc["look_count"],
        "end_at": to_iso(doc["end_at"]), "seq": doc["seq"], "deal_price": doc["deal_price"],
        "max_credit": doc["max_credit"],
        **extra,
    }


def admin_lot(doc: dict, **extra) -> dict:
    return lot(doc, reserve_price=doc["reserve_price"], **extra)


def bid(doc: dict) -> dict:
    return {"seq": doc["seq"], "lot_id": doc["lot_id"], "price": doc["price"],
            "bidder": doc["bidder"], "paddle": doc.get("paddle", 0), "status": doc["status"],
            "status_text": BID_TEXT[doc["status"]], "created_at": to_iso(doc["created_at"])}


def deposit(doc: dict) -> dict:
    """A deposit with its refunds and deductions (domain.deposits.with_history)."""
    return {
        "id": doc["_id"], "uid": doc["uid"], "kind": doc["kind"], "kind_text": DEPOSIT_KIND_TEXT[doc["kind"]],
        "auction_id": doc["auction_id"], "lot_id": doc["lot_id"] or None, "amount": doc["amount"],
        "remaining": doc["remaining"], "status": doc["status"], "status_text": DEPOSIT_TEXT[doc["status"]],
        "pay_type": doc["pay_type"], "state": doc["state"], "state_text": DEPOSIT_STATE_TEXT.get(doc["state"], ""),
        "paddle": doc.get("paddle", 0),
        "created_at": to_iso(doc["created_at"]), "paid_at": to_iso(doc["paid_at"]),
        "refunds": [{"uid": r["uid"], "amount": r["amount"], "status": r["status"],
                     "status_text": REFUND_TEXT[r["status"]], "created_at": to_iso(r["created_at"]),
                     "done_at": to_iso(r["done_at"])} for r in doc["refunds"]],
        "deductions": [{"kind": d["kind"], "kind_text": DEDUCTION_TEXT[d["kind"]], "amount": d["amount"],
                        "order_id": d["order_id"], "created_at": to_iso(d["created_at"])} for d in doc["deductions"]],
    }


def payment(doc: dict) -> dict:
    """A payment (docs/api.md): with how to pay it while pending (`pay_url`,
    `code_url` or the mini-program's `pay_params`, as the gateway gave them)."""
    return {
        "out_trade_no": doc["_id"], "purpose": doc["purpose"], "amount": doc["amount"], "status": doc["status"],
        "status_text": PAYMENT_TEXT[doc["status"]], "pay_type": doc["pay_type"],
        **({f"{doc['purpose']}_id": doc["ref"]} if doc["ref"] else {}),  # order_id or deposit_id
        "created_at": to_iso(doc["created_at"]), "expires_at": to_iso(doc["expires_at"]),
        "paid_at": to_iso(doc["paid_at"]), "refund_status": doc["refund_status"] or None,
        **(doc["pay"] if doc["status"] == "pending" else {}),
    }


def order(doc: dict) -> dict:
    return {
        "id": doc["_id"], "order_no": doc["order_no"], "status": doc["status"],
        "status_text": ORDER_TEXT[doc["status"]], "lot_id": doc["lot_id"], "auction_id": doc["auction_id"],
        "title": doc["title"], "cover": doc["cover"], "price": doc["price"], "deadline": to_iso(doc["deadline"]),
        "address": doc["address"] or None, "coupon_amount": doc["coupon_amount"], "coupon_id": doc["coupon_id"] or None,
        "credits_used": doc["credits_used"], "credits_amount": doc["credits_amount"],
        "deposit_used": doc["deposit_used"], "deposit_refund": doc["deposit_refund"],
        "paid_amount": doc["paid_amount"], "pay_type": doc["pay_type"],
        "paid_at": to_iso(doc["paid_at"]), "created_at": to_iso(doc["created_at"]),
        "round": doc["round"], "deposit_id": doc["deposit_id"], "payment": doc["payment"] or None,
    }


def breakdown(bd) -> dict:
    """An order's payment worked out (domain.checkout.Breakdown)."""
    return bd._asdict()


def address(doc: dict, default_id: str) -> dict:
    return {"id": doc["_id"], "name": doc["name"], "phone": doc["phone"], "province": doc["province"],
            "city": doc["city"], "county": doc["county"], "detail": doc["detail"], "is_default": doc["_id"] == default_id}


def credit_line(doc: dict) -> dict:
    return {"seq": doc["seq"], "kind": doc["kind"], "kind_text": CREDIT_KIND_TEXT[doc["kind"]], "amount": doc["amount"],
            "credits_after": doc["credits_after"], "ref": doc["ref"], "created_at": to_iso(doc["created_at"])}


def checkout(view: dict) -> dict:
    """The pay page (domain.checkout.view): every figure from one read of its part."""
    the_order, dep = view["order"], view["deposit"]
    return {
        "order": order(the_order), "lot": {"id": the_order["lot_id"], "title": the_order["title"],
                                           "cover": the_order["cover"], "max_credit": view["max_credit"]},
        "price": the_order["price"], "deadline": to_iso(the_order["deadline"]),
        "deposit": {"id": dep["_id"], "kind": dep["kind"], "kind_text": DEPOSIT_KIND_TEXT[dep["kind"]],
                    "state": dep["state"], "state_text": DEPOSIT_STATE_TEXT.get(dep["state"], ""),
                    "remaining": view["deposit_remaining"], "keeps_rest": view["deposit_keeps_rest"]} if dep else None,
        "deposit_remaining": view["deposit_remaining"],
        "coupons": [user_coupon(u.user_coupon, value=u.amount) for u in view["coupons"]],
        "credits": {"held": view["credits"], "most_usable": view["credits_usable"],
                    "credit_to_money": view["credit_to_money"]},
        "balance": view["balance"],
        "addresses": [address(a, view["default_address"]) for a in view["addresses"]],
        "breakdown": breakdown(view["breakdown"]), "pay_types": view["pay_types"],
        "payment": payment(view["payment"]) if view["payment"] else None,
    }


def order_groups(groups: dict[str, list[dict]]) -> dict:
    """The seeds' shape: {"unpaid": {"text": "待支付", "items": [...]}, ...}."""
    return {status: {"text": ORDER_TEXT[status], "items": each(items, order)} for status, items in groups.items()}


def offer(doc: dict) -> dict:
    return {"id": doc["_id"], "lot_id": doc["lot_id"], "auction_id": doc["auction_id"], "title": doc["title"],
            "cover": doc["cover"], "price": doc["price"], "status": doc["status"],
            "status_text": OFFER_TEXT[doc["status"]], "deadline": to_iso(doc["deadline"]),
            "created_at": to_iso(doc["created_at"]), "order_id": doc["order_id"] or None}


def _coupon_terms(doc: dict) -> dict:
    """What a coupon and a user coupon both show of the coupon's terms."""
    return {"title": doc["title"], "cover": doc["cover"], "kind": doc["kind"], "kind_text": KIND_TEXT[doc["kind"]],
            "value": doc["value"], "min_spend": doc["min_spend"], "max_off": doc["max_off"], "scope": doc["scope"],
            "scope_text": SCOPE_TEXT[doc["scope"]], "auction_id": doc["auction_id"] or None,
            "lot_id": doc["lot_id"] or None, "use_start": to_iso(doc["use_start"])}


def coupon(doc: dict, **extra) -> dict:
    return {
        "id": doc["_id"], **_coupon_terms(doc), "count": doc["count"], "claimed": doc["claimed"],
        "remaining": doc["remaining"], "claim_start": to_iso(doc["claim_start"]), "claim_end": to_iso(doc["claim_end"]),
        "use_end": to_iso(doc["use_end"]), "valid_days": doc["valid_days"], "status": doc["status"],
        "status_text": COUPON_TEXT[doc["status"]], "created_at": to_iso(doc["created_at"]), **extra,
    }


def user_coupon(doc: dict, **extra) -> dict:
    return {
        "id": doc["_id"], "coupon_id": doc["coupon_id"], "status": doc["status"],
        "status_text": USER_COUPON_TEXT[doc["status"]], "order_id": doc["order_id"] or None,
        "claimed_at": to_iso(doc["claimed_at"]), "expires_at": to_iso(doc["expires_at"]),
        "used_at": to_iso(doc["used_at"]), **_coupon_terms(doc), **extra,
    }


def user_coupon_groups(groups: dict[str, list[dict]]) -> dict:
    """{"unused": {"text": "未使用", "items": [...]}, "used": {...}, "expired": {...}}."""
    return {status: {"text": USER_COUPON_TEXT[status], "items": each(items, user_coupon)}
            for status, items in groups.items()}
