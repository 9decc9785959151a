"""Closed-form and property checks of the LMSR money math in forecast/lmsr.py (pure, no database)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import lmsr
from forecast.lmsr import MICRO

B = 100 * MICRO  # liquidity of 100 credits, in µc


# ------------------------------------------------------------------------------------- closed forms
def test_cost_at_zero_is_b_ln_n() -> None:
    for n in (2, 3, 10, 50):
        assert lmsr.cost([0] * n, B) == pytest.approx(B * math.log(n), rel=1e-14)


def test_binary_prices_hand_computed() -> None:
    # q = (b ln 3, 0): p_0 = 3 / (3 + 1) = 0.75
    p = lmsr.prices([B * math.log(3), 0], B)
    assert p == pytest.approx([0.75, 0.25], rel=1e-12)


def test_buy_one_share_hand_computed() -> None:
    # From q = 0, buying x of outcome 0 (binary) costs b ln((e^{x/b} + 1) / 2).
    x = MICRO
    exact = B * math.log((math.exp(x / B) + 1) / 2)
    assert lmsr.trade_cost([0, 0], [x, 0], B) == pytest.approx(exact, rel=1e-12)
    assert lmsr.buy_charge([0, 0], 0, x, B) == math.ceil(exact)


@given(st.lists(st.integers(-10**15, 10**15), min_size=2, max_size=12), st.integers(1, 10**12))
@settings(max_examples=200, deadline=None)
def test_prices_sum_to_one_and_are_probabilities(q: list[int], b: int) -> None:
    p = lmsr.prices(q, b)
    assert math.fsum(p) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= x <= 1.0 for x in p)


@given(st.lists(st.integers(-10**12, 10**12), min_size=2, max_size=8), st.integers(1, 10**10))
@settings(max_examples=200, deadline=None)
def test_cost_bounds(q: list[int], b: int) -> None:
    c = lmsr.cost(q, b)
    tol = 1e-12 * (abs(max(q)) + b)
    assert max(q) - tol <= c <= max(q) + b * math.log(len(q)) + tol


def test_numerically_stable_for_large_q_over_b() -> None:
    for ratio in (1e2, 1e3, 1e4, 1.5e4):
        q = [ratio * B, 0.0, -ratio * B]
        c = lmsr.cost(q, B)
        assert math.isfinite(c)
        assert c == pytest.approx(ratio * B, rel=1e-12)  # the other outcomes add ~e^{-ratio}
        p = lmsr.prices(q, B)
        assert all(math.isfinite(x) for x in p) and math.fsum(p) == pytest.approx(1.0)
        assert p[0] == pytest.approx(1.0)
        # Trading at extreme states still gives finite, sensible integer amounts.
        qi = [int(ratio * B), 0, 0]
        charge = lmsr.buy_charge(qi, 0, MICRO, B)
        assert MICRO <= charge <= MICRO + 1  # price ~1: one share costs ~one credit
        assert lmsr.buy_charge(qi, 1, MICRO, B) in (0, 1)  # price ~0
        assert 0 <= lmsr.sell_proceeds(qi, 0, MICRO, B) <= MICRO


# ----------------------------------------------------------------------------------- rounding rule
@given(
    st.lists(st.integers(0, 10**9), min_size=2, max_size=6),
    st.integers(0, 5),
    st.integers(1, 10**9),
    st.integers(10**3, 10**10),
)
@settings(max_examples=200, deadline=None)
def test_round_trip_costs_zero_up_to_rounding(q: list[int], outcome: int, shares: int, b: int) -> None:
    outcome %= len(q)
    paid = lmsr.buy_charge(q, outcome, shares, b)
    q2 = list(q)
    q2[outcome] += shares
    got = lmsr.sell_proceeds(q2, outcome, shares, b)
    assert 0 <= paid - got <= 2  # each leg rounds against the trader by less than 1 µc


def test_charges_round_up_and_proceeds_round_down() -> None:
    q = [3 * MICRO, MICRO]
    exact_buy = lmsr.trade_cost(q, [0, 7], B)
    assert lmsr.buy_charge(q, 1, 7, B) >= exact_buy
    exact_sell = -lmsr.trade_cost(q, [-5, 0], B)
    assert lmsr.sell_proceeds(q, 0, 5, B) <= exact_sell


def test_maker_funding_rounds_up() -> None:
    for n in (2, 3, 7, 20):
        for b in (1, 999, B, 10**12):
            f = lmsr.maker_funding(b, n)
            assert isinstance(f, int) and f >= b * math.log(n) and f - b * math.log(n) < 1 + 1e-13 * b * (1 + math.log(n))


trade = st.tuples(st.integers(0, 9), st.booleans(), st.integers(1, 3 * 10**8))


@given(
    st.integers(2, 6),
    st.integers(10**4, 10**9),
    st.lists(trade, min_size=1, max_size=60),
)
@settings(max_examples=150, deadline=None)
def test_maker_loss_bounded_by_b_ln_n(n: int, b: int, trades: list[tuple[int, bool, int]]) -> None:
    """Random buy/sell sequences (no short positions): for every possible winner, payout - cash
    collected <= b ln n <= maker_funding, exactly in integer µc, after every trade."""
    q = [0] * n
    cash = 0  # the market pool: charges in, proceeds out (µc)
    funding = lmsr.maker_funding(b, n)
    for raw_outcome, buy, shares in trades:
        k = raw_outcome % n
        if buy:
            charge = lmsr.buy_charge(q, k, shares, b)
            assert charge >= 0
            cash += charge
            q[k] += shares
        else:
            shares = min(shares, q[k])
            if shares == 0:
                continue
            proceeds = lmsr.sell_proceeds(q, k, shares, b)
            assert 0 <= proceeds <= cash  # the pool can always pay a sale
            cash -= proceeds
            q[k] -= shares
        assert cash >= 0
        for winner in range(n):
            loss = lmsr.payout(q[winner]) - cash
            assert loss <= b * math.log(n)
            assert loss <= funding


# --------------------------------------------------------------------------------------- refunds
def test_annulment_refunds_full_when_covered() -> None:
    assert lmsr.annulment_refunds([5, -3, 0, 7], 12) == [5, 0, 0, 7]


def test_annulment_refunds_pro_rata_when_short() -> None:
    r = lmsr.annulment_refunds([10, 30], 20)
    assert r == [5, 15] and sum(r) <= 20


@given(st.lists(st.integers(-10**9, 10**9), max_size=20), st.integers(0, 10**10))
@settings(max_examples=100, deadline=None)
def test_annulment_refunds_never_exceed_available(nets: list[int], available: int) -> None:
    r = lmsr.annulment_refunds(nets, available)
    assert all(x >= 0 for x in r) and sum(r) <= available
    assert all(x <= max(0, n) for x, n in zip(r, nets))


# --------------------------------------------------------------------------------------- buckets
def test_bucket_index_on_the_scoring_grid() -> None:
    from forecast.scoring import grid_edges

    edges = list(grid_edges(0, 1, "linear", 5))
    assert edges == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [lmsr.bucket_index(v, edges) for v in (-1, 0, 0.2499, 0.25, 0.99, 1.0, 7)] == [0, 0, 0, 1, 3, 3, 3]


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call",
    [
        lambda: lmsr.cost([0], B),
        lambda: lmsr.cost([0, float("nan")], B),
        lambda: lmsr.cost([0, 0], 0),
        lambda: lmsr.cost([0, 0], -1),
        lambda: lmsr.cost([0, 0], float("inf")),
        lambda: lmsr.prices(["a", 0], B),
        lambda: lmsr.trade_cost([0, 0], [1, 0, 0], B),
        lambda: lmsr.trade_charge([0, 0], [0.5, 0], B),
        lambda: lmsr.buy_charge([0, 0], 2, 1, B),
        lambda: lmsr.buy_charge([0, 0], 0, 0, B),
        lambda: lmsr.buy_charge([0, 0], 0, -5, B),
        lambda: lmsr.sell_proceeds([3, 0], 0, 4, B),
        lambda: lmsr.maker_funding(B, 1),
        lambda: lmsr.maker_funding(B, True),
        lambda: lmsr.payout(-1),
        lambda: lmsr.annulment_refunds([1.5], 3),
        lambda: lmsr.annulment_refunds([1], -1),
        lambda: lmsr.bucket_index(float("nan"), [0, 1, 2]),
        lambda: lmsr.bucket_index(0.5, [0, 0, 2]),
    ],
)
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------------------ bets (forecast/bets.py)
from forecast import bets  # noqa: E402


def test_bet_propositions_and_settlement() -> None:
    p = bets.validate_proposition({"kind": "compare", "op": ">=", "threshold": 0.6, "junk": 1}, "numeric", 0, 1)
    assert p == {"kind": "compare", "op": ">=", "threshold": 0.6}
    assert bets.proposition_holds(p, 0.6) and not bets.proposition_holds(p, 0.59)
    iv = bets.validate_proposition({"kind": "interval", "lower": 0.2, "upper": 0.4}, "numeric", 0, 1)
    assert bets.proposition_holds(iv, 0.4) and not bets.proposition_holds(iv, 0.41)
    yes = bets.validate_proposition({"kind": "binary", "outcome": True}, "binary")
    assert bets.proposition_holds(yes, True) and not bets.proposition_holds(yes, 0)
    # 3:1 odds: the offerer stakes 3 credits against the taker's 1.
    assert bets.settlement(3 * MICRO, MICRO, "for", True) == (4 * MICRO, 0)
    assert bets.settlement(3 * MICRO, MICRO, "against", True) == (0, 4 * MICRO)


@pytest.mark.parametrize(
    "prop,kind",
    [
        ({"kind": "binary", "outcome": "yes"}, "binary"),
        ({"kind": "compare", "op": "<", "threshold": 0.5}, "binary"),
        ({"kind": "compare", "op": "==", "threshold": 0.5}, "numeric"),
        ({"kind": "compare", "op": "<", "threshold": float("nan")}, "numeric"),
        ({"kind": "compare", "op": "<", "threshold": 2.0}, "numeric"),
        ({"kind": "interval", "lower": 0.5, "upper": 0.5}, "numeric"),
        ({"kind": "interval", "lower": 0.1}, "numeric"),
        ({"kind": "other"}, "numeric"),
        ("not a dict", "numeric"),
    ],
)
def test_malformed_propositions(prop, kind) -> None:
    with pytest.raises(ValueError):
        bets.validate_proposition(prop, kind, 0.0, 1.0)


def test_bad_stakes() -> None:
    for args in ((0, 1, "for", True), (-1, 1, "for", True), (1, 1, "maybe", True), (1.5, 1, "for", True)):
        with pytest.raises(ValueError):
            bets.settlement(*args)
