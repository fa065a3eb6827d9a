"""The pure rules, with an injected clock and no server: which timers a
session, lot, order and payment call for, the anti-sniping extension, the
outcome of a close, the next minimum, an order's payment breakdown and what
credits are worth, what the bid cache forgets, and the state tables (every
move they allow, and illegal ones refused). The whole file runs in well
under a second."""
import pytest

from domain import credits, states
from domain.bid_cache import BidCache, KnownLot, LotFacts
from domain.bidding import extended_end, highest_bid, jump_rule
from domain.checkout import Breakdown, breakdown
from domain.clock import FixedClock
from domain.closing import outcome
from domain.errors import OutOfRange
from domain.lots import next_min
from domain.states import (AUCTION, BID, COUPON, DEPOSIT, DEPOSIT_MONEY, LOT, OFFER, ORDER, PAYMENT, PAYMENT_REFUND,
                           REFUND, USER_COUPON, IllegalMove)
from domain.timeline import lot_timer, offer_timer, order_timer, payment_timer, session_timers

T0 = 1_800_000_000_000
clock = FixedClock(T0)
S, MIN = 1000, 60_000


def session(status="scheduled", **extra):
    return {"_id": "A", "status": status, "deleted_at": 0, "preview_start": T0 + 10 * MIN,
            "auction_start": T0 + 20 * MIN, "auction_end": T0 + 30 * MIN, **extra}


def lot(status="scheduled", **extra):
    return {"_id": "L", "auction_id": "A", "status": status, "deleted_at": 0, "end_at": T0 + 30 * MIN,
            "price": 0, "increment": 1000, "start_price": 10000, "seq": 0, "leader": "", "reserve_price": 0, **extra}


# --- the timer plan ----------------------------------------------------------
def test_a_scheduled_session_has_preview_live_and_end_timers_at_its_times():
    assert [(t.job_id, t.at) for t in session_timers(session())] == [
        ("preview:A", T0 + 10 * MIN), ("live:A", T0 + 20 * MIN), ("end:A", T0 + 30 * MIN)]


@pytest.mark.parametrize("status, left", [("preview", ["live:A", "end:A"]), ("live", ["end:A"]), ("ended", [])])
def test_a_session_keeps_only_the_timers_still_ahead_of_its_status(status, left):
    assert [t.job_id for t in session_timers(session(status))] == left


def test_a_deleted_session_has_no_timers_and_neither_have_its_lots():
    gone = session(deleted_at=T0)
    assert session_timers(gone) == [] and lot_timer(gone, lot()) is None


def test_a_lot_closes_at_its_end_but_never_before_its_session_goes_live():
    assert lot_timer(session(), lot()).at == T0 + 30 * MIN
    early = lot(end_at=T0 + 5 * MIN)  # an end that an edit left before the start
    assert lot_timer(session(), early).at == T0 + 20 * MIN
    assert lot_timer(session(), lot(end_at=T0 + 40 * MIN)).at == T0 + 40 * MIN  # extended


@pytest.mark.parametrize("status", ["paused", "sold", "unsold", "overdue"])
def test_a_lot_that_is_paused_or_closed_has_no_close_timer(status):
    assert lot_timer(session("live"), lot(status)) is None


def test_only_an_unpaid_order_has_a_deadline_timer():
    order = {"_id": "O", "status": "unpaid", "deadline": T0 + 86_400 * S}
    assert order_timer(order) == ("overdue:O", T0 + 86_400 * S, "overdue", "O")
    assert all(order_timer({**order, "status": s}) is None for s in ("to_receive", "completed", "overdue"))


def test_only_a_pending_offer_has_a_deadline_timer():
    offer = {"_id": "F", "status": "pending", "deadline": T0 + 3600 * S}
    assert offer_timer(offer) == ("offer:F", T0 + 3600 * S, "offer", "F")
    assert all(offer_timer({**offer, "status": s}) is None for s in ("accepted", "declined", "expired"))


# --- bidding rules -------------------------------------------------------------
def test_the_next_minimum_is_the_start_price_then_the_price_plus_one_increment():
    assert next_min(lot()) == 10000
    assert next_min(lot(price=12000, seq=3, leader="u1")) == 13000
    assert next_min(lot(price=0, seq=4, leader="")) == 10000  # every bid undone


FACTS = LotFacts("A", 1000, extend_window_ms=30 * S, extend_by_ms=60 * S, latest_end=0, estimate_high=50_000,
                 max_jump=0)


def test_a_bid_inside_the_window_moves_the_end_to_bid_time_plus_the_extension():
    end = clock.now_ms() + 10 * S
    assert extended_end(FACTS, end, clock.now_ms()) == clock.now_ms() + 60 * S


def test_a_bid_outside_the_window_or_with_the_rule_off_moves_nothing():
    now = clock.now_ms()
    assert extended_end(FACTS, now + 30 * S, now) == 0  # exactly the window away: outside
    assert extended_end(FACTS._replace(extend_window_ms=0), now + S, now) == 0


def test_extensions_stop_at_the_sessions_cap():
    now = clock.now_ms()
    capped = FACTS._replace(latest_end=now + 20 * S)
    assert extended_end(capped, now + 10 * S, now) == now + 20 * S


def test_a_bid_may_jump_to_ten_times_the_next_minimum_or_the_high_estimate_whichever_is_more():
    assert highest_bid(FACTS, 10_000) == 500_000  # the high estimate ×10
    assert highest_bid(FACTS, 80_000) == 800_000  # the next minimum ×10
    assert highest_bid(FACTS._replace(max_jump=20_000), 10_000) == 30_000  # the session's own cap


@pytest.mark.parametrize("next_min, price", [(10_000, 500_000), (10_000, 500_001), (80_000, 800_000), (80_000, 800_001),
                                             (79_999, 800_000)])
def test_the_jump_rule_in_the_bids_write_says_what_highest_bid_says(next_min, price):
    rule = jump_rule(FACTS, price)
    allowed_by_write = next_min >= rule.get("$gte", -1)
    assert allowed_by_write == (price <= highest_bid(FACTS, next_min))
    capped = FACTS._replace(max_jump=20_000)
    assert (next_min >= jump_rule(capped, price)["$gte"]) == (price <= highest_bid(capped, next_min))


@pytest.mark.parametrize("leader, price, reserve, expected", [
    ("u1", 12000, 0, "sold"), ("u1", 12000, 12000, "sold"), ("u1", 12000, 12001, "unsold"), ("", 0, 0, "unsold")])
def test_a_close_sells_to_the_leader_only_when_the_reserve_is_reached(leader, price, reserve, expected):
    assert outcome(lot("live", leader=leader, price=price, reserve_price=reserve)) == expected


def test_the_bid_cache_forgets_what_each_event_makes_stale():
    cache = BidCache()
    known = cache.lots["L"] = KnownLot(FACTS, T0, covered={"u1", "u2"})
    cache.session_covered["A"] = {"u1", "u3"}
    cache.sessions["A"] = session("live")
    cache.apply({"type": "bid", "lot": "L", "seq": 7, "user": "u2", "next_min": 12_000, "end_at": T0})
    assert known.stored_seq == 7 and (known.seq, known.leader, known.next_min) == (7, "u2", 12_000)
    cache.apply({"type": "barred", "user": "u1", "until": T0})
    assert known.covered == {"u2"} and cache.session_covered["A"] == {"u3"}
    cache.apply({"type": "status", "lot": "L", "status": "paused"})
    assert "L" not in cache.lots
    cache.apply({"type": "auction", "auction": "A", "status": "ended"})
    assert "A" not in cache.sessions and "A" not in cache.session_covered


def test_a_deposit_a_payment_used_or_refunded_no_longer_covers_on_trust():
    cache = BidCache()
    known = cache.lots["L"] = KnownLot(FACTS, T0, covered={"u1", "u2"})
    cache.session_covered["A"] = {"u1", "u3"}
    cache.apply({"type": "deposit", "user": "u1", "auction": "A", "lot": "", "kind": "auction", "state": "held"})
    assert cache.session_covered["A"] == {"u3"} and known.covered == {"u1", "u2"}
    cache.apply({"type": "deposit", "user": "u2", "auction": "A", "lot": "L", "kind": "lot", "state": "refunding"})
    assert known.covered == {"u1"}
    cache.apply({"type": "deposit", "user": "u9", "auction": "B", "lot": "", "kind": "auction", "state": "used"})


# --- an order's payment (spec/domain.md "Payment of an order") -----------------------
@pytest.mark.parametrize("case, args, expected", [
    # price, deposit left, keeps its rest, coupon, credits, their worth → used, refunded, to pay
    ("a coupon covers all: the whole deposit goes back", (30000, 10000, False, 30000), (0, 10000, 0)),
    ("a coupon worth more than the price takes the price", (30000, 10000, False, 50000), (0, 10000, 0)),
    ("the deposit covers exactly what the coupon leaves", (30000, 10000, False, 20000), (10000, 0, 0)),
    ("the deposit covers more: its rest goes back", (30000, 50000, False), (30000, 20000, 0)),
    ("the deposit covers more, but still backs another order", (30000, 50000, True), (30000, 0, 0)),
    ("the deposit covers less: the rest is to pay", (30000, 10000, False), (10000, 0, 20000)),
    ("credits take part, the deposit covers less", (30000, 10000, False, 0, 500, 5000), (10000, 0, 15000)),
    ("credits take part, the deposit covers more", (30000, 50000, False, 0, 1000, 10000), (20000, 30000, 0)),
    ("no deposit left: all of it is to pay", (30000, 0, False), (0, 0, 30000)),
    ("no deposit left, a coupon takes part", (30000, 0, True, 5000), (0, 0, 25000)),
])
def test_the_breakdown_of_an_order_s_payment(case, args, expected):
    bd = breakdown(*args)
    assert (bd.deposit_used, bd.deposit_refund, bd.to_pay) == expected
    assert bd.coupon + bd.credits_amount + bd.deposit_used + bd.to_pay == bd.price  # the parts add up to the price


def test_a_breakdown_takes_one_coupon_or_credits_never_both():
    with pytest.raises(AssertionError):
        breakdown(30000, 0, False, 1000, 100, 1000)
    assert breakdown(30000, 0, False, 1000) == Breakdown(30000, 1000, 0, 0, 0, 0, 29000)


def test_credits_are_worth_a_tenth_of_a_yuan_each_by_default_and_come_to_whole_cents():
    assert credits.worth(1000, 10) == 10000 and credits.worth(3, 3) == 100
    with pytest.raises(OutOfRange):
        credits.worth(1, 3)  # a third of a yuan is not whole cents
    # At most: what is held, what the lot takes, what the price is worth.
    assert credits.most_usable(have=700, max_credit=900, price=30000, credit_to_money=10) == 700
    assert credits.most_usable(have=7000, max_credit=900, price=30000, credit_to_money=10) == 900
    assert credits.most_usable(have=7000, max_credit=9000, price=30000, credit_to_money=10) == 3000
    assert credits.most_usable(have=7000, max_credit=0, price=30000, credit_to_money=10) == 0
    assert credits.most_usable(have=100, max_credit=100, price=30000, credit_to_money=3) == 99
    assert credits.earned_for(30050, 1) == 300 and credits.earned_for(99, 5) == 0


def test_only_a_pending_gateway_payment_has_a_close_timer():
    payment = {"_id": "P1", "status": "pending", "pay_type": "alipay", "expires_at": T0 + 900 * S}
    assert payment_timer(payment) == ("close-payment:P1", T0 + 900 * S, "close_payment", "P1")
    assert payment_timer({**payment, "pay_type": "balance"}) is None  # its own request finishes it
    assert all(payment_timer({**payment, "status": s}) is None for s in ("paid", "closed", "refunded"))


# --- the state tables ------------------------------------------------------------
LEGAL = [
    (AUCTION, "scheduled", "preview"), (AUCTION, "scheduled", "live"), (AUCTION, "preview", "live"),
    (AUCTION, "live", "ended"),
    (LOT, "scheduled", "preview"), (LOT, "preview", "live"), (LOT, "live", "paused"), (LOT, "paused", "live"),
    (LOT, "live", "sold"), (LOT, "live", "unsold"), (LOT, "sold", "overdue"), (LOT, "overdue", "sold"),
    (BID, "bidding", "won"), (BID, "won", "overdue"), (BID, "bidding", "void"),
    (ORDER, "unpaid", "to_receive"), (ORDER, "to_receive", "completed"), (ORDER, "unpaid", "overdue"),
    (DEPOSIT, "unpaid", "paid"),
    (DEPOSIT_MONEY, "", "held"), (DEPOSIT_MONEY, "held", "refunding"), (DEPOSIT_MONEY, "refunding", "refunded"),
    (DEPOSIT_MONEY, "held", "forfeiting"), (DEPOSIT_MONEY, "forfeiting", "forfeited"),
    (REFUND, "pending", "done"),
    (OFFER, "pending", "accepted"), (OFFER, "pending", "declined"), (OFFER, "pending", "expired"),
    (DEPOSIT, "unpaid", "closed"),
    (DEPOSIT_MONEY, "held", "using"), (DEPOSIT_MONEY, "using", "used"), (DEPOSIT_MONEY, "using", "held"),
    (DEPOSIT_MONEY, "using", "refunding"),
    (PAYMENT, "pending", "paid"), (PAYMENT, "pending", "closed"), (PAYMENT, "closed", "refunded"),
    (PAYMENT_REFUND, "pending", "done"),
    (COUPON, "pending", "claiming"), (COUPON, "claiming", "ended"),
    (USER_COUPON, "pending", "unused"), (USER_COUPON, "unused", "locked"), (USER_COUPON, "locked", "unused"),
    (USER_COUPON, "locked", "used"), (USER_COUPON, "unused", "expired"),
]
ILLEGAL = [
    (AUCTION, "ended", "live"), (AUCTION, "live", "preview"), (LOT, "sold", "live"), (LOT, "unsold", "sold"),
    (LOT, "paused", "sold"), (LOT, "overdue", "live"), (BID, "void", "bidding"), (BID, "overdue", "won"),
    (ORDER, "completed", "unpaid"), (ORDER, "overdue", "to_receive"), (ORDER, "to_receive", "overdue"),
    (DEPOSIT, "paid", "unpaid"), (DEPOSIT_MONEY, "refunded", "held"), (DEPOSIT_MONEY, "forfeited", "refunded"),
    (REFUND, "done", "pending"),
    (OFFER, "declined", "accepted"), (OFFER, "expired", "accepted"), (OFFER, "accepted", "declined"),
    (DEPOSIT, "closed", "paid"), (DEPOSIT_MONEY, "using", "forfeiting"), (DEPOSIT_MONEY, "used", "held"),
    (DEPOSIT_MONEY, "used", "refunding"), (DEPOSIT_MONEY, "", "using"),
    (PAYMENT, "paid", "closed"), (PAYMENT, "closed", "paid"), (PAYMENT, "paid", "refunded"),
    (PAYMENT, "refunded", "paid"), (PAYMENT_REFUND, "done", "pending"),
    (COUPON, "ended", "claiming"), (COUPON, "pending", "ended"), (COUPON, "claiming", "pending"),
    (USER_COUPON, "unused", "used"), (USER_COUPON, "used", "unused"), (USER_COUPON, "expired", "unused"),
    (USER_COUPON, "locked", "expired"), (USER_COUPON, "pending", "locked"),
]


@pytest.mark.parametrize("machine, frm, to", LEGAL, ids=lambda v: getattr(v, "name", v))
def test_each_table_allows_its_moves(machine, frm, to):
    assert machine.allows(frm, to)
    assert machine.guard(to, frm) == {machine.field: frm}


@pytest.mark.parametrize("machine, frm, to", ILLEGAL, ids=lambda v: getattr(v, "name", v))
def test_a_move_the_table_does_not_allow_is_refused_before_the_store(machine, frm, to):
    assert not machine.allows(frm, to)
    with pytest.raises(IllegalMove):
        machine.guard(to, frm)


def test_a_move_to_a_state_nothing_enters_is_refused():
    with pytest.raises(IllegalMove):
        LOT.guard("scheduled")
    with pytest.raises(IllegalMove):
        ORDER.guard("unpaid")


def test_without_a_named_source_a_move_may_start_from_any_state_its_table_allows():
    assert LOT.guard("live") == {"status": {"$in": ["scheduled", "preview", "paused"]}}
    assert DEPOSIT_MONEY.guard("refunded") == {"state": {"$in": ["held", "refunding"]}}
    assert DEPOSIT_MONEY.guard("held") == {"state": {"$in": ["", "using"]}}


def test_every_state_has_its_chinese_label():
    for machine in states.MACHINES:
        assert all(machine.text(s) for s in machine.labels)
        assert all(machine.text(to) for to in machine.moves)


class Collection:
    """Records the one conditional update a move makes."""

    def __init__(self):
        self.calls = []

    async def find_one_and_update(self, query, update, return_document):
        self.calls.append((query, update))
        return None


@pytest.mark.gen_test
async def test_a_move_is_one_conditional_update_with_the_sources_in_its_filter():
    orders = Collection()
    assert await states.move(orders, ORDER, {"_id": "O"}, "completed", set={"received_at": T0}) is None
    assert orders.calls == [({"_id": "O", "status": "to_receive"},
                             {"$set": {"status": "completed", "received_at": T0}})]
    with pytest.raises(IllegalMove):
        await states.move(orders, ORDER, {"_id": "O"}, "completed", "unpaid")
    assert len(orders.calls) == 1
