"""What a coupon is worth and when, as pure rules: the amount each kind takes
off a price, whether it applies to an order, when a claimed one expires, the
terms an operator may set, and the timers a coupon calls for."""
import pytest

from domain.coupon_value import amount_off, applies_to, check_terms, expiry, session_end, valid_until
from domain.errors import OutOfRange
from domain.rules import DAY_MS, Rules
from domain.timeline import coupon_expiry_timer, coupon_timers

T0 = 1_800_000_000_000
MIN = 60_000


def cash(value):
    return {"kind": "cash", "value": value, "min_spend": 0, "max_off": 0}


def threshold(value, min_spend):
    return {"kind": "threshold", "value": value, "min_spend": min_spend, "max_off": 0}


def discount(percent_paid, max_off=0):
    return {"kind": "discount", "value": percent_paid, "min_spend": 0, "max_off": max_off}


# --- the amount off -----------------------------------------------------------------
@pytest.mark.parametrize("terms, price, off", [
    (cash(2000), 30000, 2000),
    (cash(20000), 30000, 20000),                 # the payment issue's case: 300 元, 200 元 off
    (cash(50000), 30000, 30000),                 # worth more than the price: never more than it
    (threshold(5000, 30000), 29999, 0),          # threshold not met
    (threshold(5000, 30000), 30000, 5000),       # met exactly
    (threshold(50000, 30000), 30000, 30000),     # met, but worth more than the price
    (discount(88), 10000, 1200),                 # pay 88 %
    (discount(88), 999, 120),                    # 879.12 to pay, rounded down: the buyer's favour
    (discount(79), 12345, 2593),                 # 9752.55 → 9752 to pay
    (discount(1), 10001, 9901),                  # 100.01 → 100 to pay
    (discount(50, max_off=3000), 10000, 3000),   # over its cap
    (discount(50, max_off=3000), 6000, 3000),    # exactly at its cap
    (discount(50, max_off=3000), 4000, 2000),    # under its cap
    (discount(99), 1, 1),                        # 0.99 → 0 to pay: never more than the price
])
def test_each_kind_takes_its_amount_off_a_price(terms, price, off):
    assert amount_off(terms, price) == off


@pytest.mark.parametrize("percent_paid", range(1, 100))
def test_a_discount_is_integer_cents_between_nothing_and_the_price_rounded_for_the_buyer(percent_paid):
    for price in (1, 7, 99, 101, 9999, 123457):
        off = amount_off(discount(percent_paid), price)
        assert 0 <= off <= price and isinstance(off, int)
        assert (price - off) * 100 <= price * percent_paid < (price - off + 1) * 100  # pays the floor


# --- scope ------------------------------------------------------------------------
ORDER = {"lot_id": "L1", "auction_id": "A1", "price": 30000}


@pytest.mark.parametrize("scope, auction_id, lot_id, applies", [
    ("general", "", "", True),
    ("auction", "A1", "", True), ("auction", "A2", "", False),
    ("lot", "A1", "L1", True), ("lot", "A1", "L2", False),
])
def test_a_coupon_applies_to_any_order_its_sessions_or_its_lots(scope, auction_id, lot_id, applies):
    assert applies_to({"scope": scope, "auction_id": auction_id, "lot_id": lot_id}, ORDER) is applies


# --- expiry ------------------------------------------------------------------------
def terms(**extra):
    return {"kind": "cash", "value": 100, "min_spend": 0, "max_off": 0, "scope": "general", "claim_start": T0,
            "claim_end": T0 + 60 * MIN, "use_start": 0, "use_end": 0, "valid_days": 7, **extra}


def test_a_claimed_coupon_ends_with_its_window_or_valid_days_after_the_claim():
    assert valid_until(terms(), T0 + 5) == T0 + 5 + 7 * DAY_MS
    assert valid_until(terms(valid_days=0, use_start=T0, use_end=T0 + DAY_MS), T0 + 5) == T0 + DAY_MS
    assert valid_until(terms(valid_days=0, scope="auction"), T0) == 0


def test_a_session_coupon_ends_a_delay_after_its_session_whichever_comes_first():
    rules = Rules(coupon_expire_seconds=3600)
    auction = {"auction_end": T0 + 10 * MIN}
    assert session_end(auction, rules) == T0 + 70 * MIN
    assert session_end({**auction, "ended_at": T0 + 12 * MIN}, rules) == T0 + 72 * MIN  # a late bid kept it open
    assert expiry(0, T0 + 70 * MIN) == T0 + 70 * MIN
    assert expiry(T0 + 5 * MIN, T0 + 70 * MIN) == T0 + 5 * MIN
    assert expiry(T0 + 5 * MIN, 0) == T0 + 5 * MIN


# --- the terms an operator may set -------------------------------------------------------
@pytest.mark.parametrize("bad", [
    {"kind": "discount", "value": 0}, {"kind": "discount", "value": 100},
    {"kind": "threshold"},                                   # no min_spend
    {"min_spend": 5000},                                     # on a cash coupon
    {"max_off": 5000},                                       # on a cash coupon
    {"claim_end": T0},                                       # window not in order
    {"claim_start": T0 - 120 * MIN, "claim_end": T0 - MIN},  # over already
    {"valid_days": 0, "use_start": T0 + DAY_MS, "use_end": T0},
    {"valid_days": 0, "use_start": 0, "use_end": T0 + DAY_MS},
    {"valid_days": 0, "use_start": T0 - 2 * DAY_MS, "use_end": T0 - DAY_MS},  # ends before claiming starts
    {"use_start": T0, "use_end": T0 + DAY_MS},               # and valid_days
    {"valid_days": 0},                                       # a general coupon that never ends
])
def test_terms_that_contradict_each_other_are_refused(bad):
    with pytest.raises(OutOfRange):
        check_terms(terms(**bad), T0)


@pytest.mark.parametrize("good", [
    {}, {"kind": "discount", "value": 88, "max_off": 5000}, {"kind": "threshold", "value": 100, "min_spend": 30000},
    {"valid_days": 0, "use_start": T0 + DAY_MS, "use_end": T0 + 2 * DAY_MS},
    {"valid_days": 0, "scope": "auction"},                   # until its session's end + the delay
])
def test_terms_that_make_sense_are_accepted(good):
    check_terms(terms(**good), T0)


# --- timers ---------------------------------------------------------------------------
def coupon(status="pending", **extra):
    return {"_id": "C", "status": status, "deleted_at": 0, "claim_start": T0, "claim_end": T0 + MIN, **extra}


def test_a_pending_coupon_opens_and_closes_on_time_a_claiming_one_only_closes():
    assert [(t.job_id, t.at, t.action) for t in coupon_timers(coupon())] == [
        ("coupon-open:C", T0, "coupon"), ("coupon-close:C", T0 + MIN, "coupon")]
    assert [t.job_id for t in coupon_timers(coupon("claiming"))] == ["coupon-close:C"]


def test_an_ended_or_deleted_coupon_has_no_timers():
    assert coupon_timers(coupon("ended")) == [] and coupon_timers(coupon(deleted_at=T0)) == []


def test_the_user_coupons_share_one_expiry_timer_armed_only_when_one_may_expire():
    assert coupon_expiry_timer(T0) == ("coupon-expiry", T0, "coupon-expiry", "")
    assert coupon_expiry_timer(0) is None
