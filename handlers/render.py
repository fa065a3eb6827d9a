"""Documents as the API shows them (spec/api.md, "Field names"): ISO times,
Chinese status labels, masked bidders, no internal fields."""
from domain.clock import to_iso
from domain.lots import next_min
from domain.status import AUCTION_TEXT, BID_TEXT, LOT_TEXT


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
        "extend_by_s": doc["extend_by_s"], "max_extend_s": doc.get("max_extend_s", 0),
        "lot_count": doc["lot_count"], "bid_count": doc["bid_count"],
        "look_count": doc["look_count"], "total_deal": doc["total_deal"],
    }
    for f in ("preview_start", "preview_end", "auction_start", "auction_end"):
        out[f] = to_iso(doc[f])
    return {**out, **extra}


def lot(doc: dict, **extra) -> dict:
    return {
        "id": doc["_id"], "auction_id": doc["auction_id"], "catalog_no": doc["catalog_no"],
        "title": doc["title"], "cover": doc["cover"],
        "images": sorted(doc["images"], key=lambda i: i["order"]), "specs": doc["specs"],
        "start_price": doc["start_price"], "increment": doc["increment"],
        "estimate_low": doc["estimate_low"], "estimate_high": doc["estimate_high"],
        "reserve_price": doc["reserve_price"], "deposit": doc["deposit"],
        "status": doc["status"], "status_text": LOT_TEXT[doc["status"]],
        "price": doc["price"], "next_min": next_min(doc), "leader": doc["leader_name"],
        "bid_count": doc["bid_count"], "look_count": doc["look_count"],
        "end_at": to_iso(doc["end_at"]), "seq": doc["seq"], "deal_price": doc["deal_price"],
        **extra,
    }


def bid(doc: dict) -> dict:
    return {"seq": doc["seq"], "lot_id": doc["lot_id"], "price": doc["price"],
            "bidder": doc["bidder"], "status": doc["status"], "status_text": BID_TEXT[doc["status"]],
            "created_at": to_iso(doc["created_at"])}
