"""Proxy bidding as a pure rule (domain.proxies.settle), driven through a
small model of the lot: every ordering of two or three maxima ends in the
same place, and a manual bid meets a standing proxy as eBay's rule says."""
from itertools import permutations

import pytest

from domain.proxies import Claim, Standing, settle

START, INCREMENT = 10_000, 1_000


class Lot:
    """What the lot's conditional writes do, in memory: a manual bid needs the
    next minimum and must not come from the leader; the proxies' bids are
    whatever `settle` asks for."""

    def __init__(self):
        self.price, self.leader, self.leader_at, self.clock = 0, "", 0, 0
        self.proxies: dict[str, Claim] = {}
        self.history: list[tuple[str, int]] = []

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def next_min(self) -> int:
        return self.price + INCREMENT if self.leader else START

    def bid(self, user: str, price: int) -> bool:
        if price < self.next_min() or user == self.leader:
            return False
        self._take(user, price)
        self.answer()
        return True

    def proxy(self, user: str, max_price: int) -> bool:
        least = self.price + INCREMENT if user == self.leader else self.next_min()
        if max_price < least:
            return False  # a maximum below the next minimum is refused
        self.proxies[user] = Claim(user, max_price, self.tick())
        self.answer()
        return True

    def answer(self) -> None:
        for _ in range(10):
            steps = settle(Standing(self.price, self.leader, self.leader_at, START), list(self.proxies.values()),
                           INCREMENT)
            if not steps:
                return
            self._take(*steps[0])
        raise AssertionError("the proxies never settled")

    def _take(self, user: str, price: int) -> None:
        self.price, self.leader, self.leader_at = price, user, self.tick()
        self.history.append((user, price))

    def standing(self) -> tuple[str, int]:
        return self.leader, self.price


def run(*actions) -> Lot:
    lot = Lot()
    for kind, user, amount in actions:
        assert (lot.proxy if kind == "proxy" else lot.bid)(user, amount), (kind, user, amount)
    return lot


@pytest.mark.parametrize("maxima, winner, price", [
    ({"A": 20_000, "B": 19_500}, "A", 20_000),   # lower maximum + one increment, capped at the higher
    ({"A": 30_000, "B": 50_000}, "B", 31_000),
    ({"A": 30_000, "B": 30_500}, "B", 30_500),   # less than an increment apart: capped
    ({"A": 12_000, "B": 11_000}, "A", 12_000),   # exactly one increment apart
    ({"A": 10_000}, "A", 10_000),                # alone: opens at the start price
])
def test_two_proxies_settle_the_same_whichever_was_set_first(maxima, winner, price):
    for order in permutations(maxima):
        lot = run(*[("proxy", user, maxima[user]) for user in order])
        assert lot.standing() == (winner, price), order


def test_of_equal_maxima_the_earlier_leads_at_that_maximum():
    assert run(("proxy", "A", 30_000), ("proxy", "B", 30_000)).standing() == ("A", 30_000)
    assert run(("proxy", "B", 30_000), ("proxy", "A", 30_000)).standing() == ("B", 30_000)


def test_three_maxima_end_in_the_same_place_in_every_order():
    maxima = {"A": 25_000, "B": 40_000, "C": 32_000}
    for order in permutations(maxima):
        lot = Lot()
        for user in order:
            lot.proxy(user, maxima[user])  # a maximum already under the next minimum is refused: it could not win
        assert lot.standing() == ("B", 33_000), order


def test_the_history_shows_the_runner_ups_maximum_then_the_winners_answer():
    lot = run(("proxy", "A", 20_000), ("proxy", "B", 19_500))
    assert lot.history == [("A", 10_000), ("B", 19_500), ("A", 20_000)]


def test_a_manual_bid_is_answered_at_one_increment_more():
    lot = run(("proxy", "A", 15_000), ("bid", "B", 12_000))
    assert lot.standing() == ("A", 13_000)


def test_a_manual_bid_less_than_an_increment_under_the_maximum_is_answered_at_the_maximum():
    lot = run(("proxy", "A", 20_000), ("bid", "B", 19_500))
    assert lot.standing() == ("A", 20_000)


def test_a_manual_bid_equal_to_an_earlier_proxys_maximum_loses_to_it():
    lot = run(("proxy", "A", 20_000), ("bid", "B", 20_000))
    assert lot.standing() == ("A", 20_000) and lot.history[-2:] == [("B", 20_000), ("A", 20_000)]


def test_a_manual_bid_over_the_maximum_leads_and_nothing_answers():
    lot = run(("proxy", "A", 15_000), ("bid", "B", 16_000))
    assert lot.standing() == ("B", 16_000) and lot.history == [("A", 10_000), ("B", 16_000)]


def test_a_proxy_set_after_a_manual_bid_takes_the_lead_by_one_increment():
    lot = run(("bid", "A", 10_000), ("proxy", "B", 30_000))
    assert lot.standing() == ("B", 11_000)


def test_a_proxy_set_after_a_manual_bid_equal_to_it_would_be_below_the_next_minimum():
    lot = run(("bid", "A", 19_500))
    assert not lot.proxy("B", 20_000)  # 20,000 < 20,500: refused, nothing changes
    assert lot.standing() == ("A", 19_500)


def test_raising_ones_own_maximum_while_leading_bids_nothing():
    lot = run(("proxy", "A", 15_000), ("proxy", "A", 25_000))
    assert lot.history == [("A", 10_000)]
    assert run(("proxy", "A", 15_000), ("proxy", "A", 25_000), ("proxy", "B", 20_000)).standing() == ("A", 21_000)


def test_a_maximum_below_the_next_minimum_is_refused():
    lot = run(("bid", "A", 10_000))
    assert not lot.proxy("B", 10_500)
    assert not lot.proxy("A", 10_500)  # the leader's own maximum must top its bid by an increment


@pytest.mark.parametrize("standing, proxies, expected", [
    (Standing(0, "", 0, START), [], []),
    (Standing(15_000, "A", 1, START), [Claim("B", 15_000, 2)], []),  # a later equal maximum loses the tie
    (Standing(15_000, "A", 1, START), [Claim("B", 15_500, 0)], [("B", 15_500)]),  # less than an increment: capped
    (Standing(15_000, "A", 5, START), [Claim("B", 15_000, 2)], [("B", 15_000)]),  # an earlier maximum ties and wins
    (Standing(15_000, "A", 1, START), [Claim("A", 30_000, 0), Claim("B", 20_000, 2)], [("B", 20_000), ("A", 21_000)]),
])
def test_settle_is_a_pure_function_of_the_standing_and_the_maxima(standing, proxies, expected):
    assert [tuple(step) for step in settle(standing, proxies, INCREMENT)] == expected
