"""Logarithmic market scoring rule (Hanson) and the integer money rules around it.

Units (everything a market stores is an integer):

- **Credits** are integer **micro-credits** (µc): 1 credit = 1_000_000 µc (``MICRO``).
- **Shares** are integer **micro-shares** (µs): 1 share = 1_000_000 µs. A winning share pays
  1 credit, so a winning micro-share pays exactly 1 µc. Quantities ``q`` (outstanding shares per
  outcome) and trade amounts are therefore integers in µs, and money in µc: the two scales match, so
  the cost function below needs no conversion.
- The liquidity parameter ``b`` is in µc (a positive number; markets store it as an integer).

Math. For outstanding shares ``q`` (shape ``(n,)``, n >= 2 outcomes)::

    C(q)     = b * log(sum_i exp(q_i / b))        (computed with log-sum-exp: stable for |q/b| <= 1e4+)
    p_i(q)   = exp(q_i / b) / sum_j exp(q_j / b)  (the softmax; sums to 1)
    cost(d)  = C(q + d) - C(q)                    (what a trader pays to move q by d)

Rounding rule (always in the maker's favour). A trade's exact cost is a real number; the trader is
charged ``ceil(cost + tol)`` µc, where ``tol`` (64 machine epsilons times the magnitudes involved, i.e.
about 1e-14 relative) bounds the floating-point error of the computation.
A positive charge is paid by the trader (rounded UP); a negative charge is paid to the trader, whose
proceeds ``floor(-cost - tol)`` are rounded DOWN. Hence the market's cash after any sequence of trades
is at least ``C(q) - C(0)`` exactly, and since ``C(q) >= max_i q_i``, paying 1 µc per winning µs at
resolution costs the maker at most ``C(0) = b * ln(n)``. The maker's funding is
``ceil(b * ln(n) + tol)`` µc, so "maker loss <= b * ln(n) <= funding" holds exactly in integers.
A buy-then-sell round trip costs the trader 0, 1 or 2 µc and never gains anything.

Numeric questions' outcomes are the buckets of the question's scoring grid
(``forecast.scoring.grid_edges``); :func:`bucket_index` finds the bucket a resolved value settles.

Public functions validate their inputs (plain ``ValueError``) and document the math; each delegates
to a one-line private core.
"""
from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Sequence

MICRO = 1_000_000
"""Micro-units per unit: 1 credit = MICRO µc, 1 share = MICRO µs."""

MAX_OUTCOMES = 1000
_TOL_REL = 64 * sys.float_info.epsilon  # a generous bound on the relative float error of C(q') - C(q)


# ----------------------------------------------------------------------------------------- validation
def _check_b(b: float) -> float:
    if isinstance(b, bool) or not isinstance(b, (int, float)):
        raise ValueError(f"b must be a number, got {type(b).__name__}")
    bf = float(b)
    if not math.isfinite(bf) or bf <= 0:
        raise ValueError(f"b must be a positive finite number of micro-credits, got {b!r}")
    return bf


def _check_q(q: Sequence[float], name: str = "q") -> list[float]:
    try:
        values = [float(x) for x in q]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers") from exc
    if len(values) < 2:
        raise ValueError(f"{name} must have at least 2 outcomes, got {len(values)}")
    if len(values) > MAX_OUTCOMES:
        raise ValueError(f"{name} has {len(values)} outcomes; at most {MAX_OUTCOMES} are allowed")
    if not all(math.isfinite(x) for x in values):
        raise ValueError(f"{name} must be finite")
    return values


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n > MAX_OUTCOMES:
        raise ValueError(f"n (number of outcomes) must be an integer in [2, {MAX_OUTCOMES}], got {n!r}")
    return n


# ---------------------------------------------------------------------------------------------- cores
def _lse(z: Sequence[float]) -> float:
    m = max(z)
    return m + math.log(math.fsum(math.exp(x - m) for x in z))


def _cost(q: Sequence[float], b: float) -> float:
    return b * _lse([x / b for x in q])


def _prices(q: Sequence[float], b: float) -> list[float]:
    return _normalise([math.exp(x / b - max(q) / b) for x in q])


def _normalise(e: list[float]) -> list[float]:
    return [x / math.fsum(e) for x in e]


def _trade_cost(q: Sequence[float], d: Sequence[float], b: float) -> float:
    return _cost([x + y for x, y in zip(q, d)], b) - _cost(q, b)


def _tol(q: Sequence[float], d: Sequence[float], b: float) -> float:
    return _TOL_REL * (b * (1.0 + math.log(len(q))) + sum(abs(x) for x in q) + sum(abs(x + y) for x, y in zip(q, d)))


def _charge(exact: float, tol: float) -> int:
    return math.ceil(exact + tol)


# ------------------------------------------------------------------------------------ public functions
def cost(q: Sequence[float], b: float) -> float:
    """LMSR cost function ``C(q) = b * log(sum_i exp(q_i / b))`` in µc.

    ``q``: outstanding micro-shares per outcome, shape ``(n,)``, n >= 2, finite (may be negative in
    this pure function). ``b``: liquidity in µc, > 0. Computed as ``b * (m + log(sum exp(q_i/b - m)))``
    with ``m = max(q/b)`` so it neither overflows nor underflows for |q/b| up to 1e4 and beyond.
    ``C(0) = b * ln(n)`` and ``max(q) <= C(q) <= max(q) + b * ln(n)``.
    """
    return _cost(_check_q(q), _check_b(b))


def prices(q: Sequence[float], b: float) -> list[float]:
    """Instantaneous prices ``p_i = softmax(q / b)_i`` (credits per share, each in [0, 1], summing to 1).

    Same shapes and units as :func:`cost`; computed with the max-shift so it is stable for large |q/b|.
    """
    return _prices(_check_q(q), _check_b(b))


def trade_cost(q: Sequence[float], delta: Sequence[float], b: float) -> float:
    """Exact (real-valued) cost ``C(q + delta) - C(q)`` in µc of moving the market by ``delta`` µs.

    Positive: the trader pays; negative: the trader receives. Use :func:`trade_charge` for the
    integer amount that actually moves. ``q`` and ``delta`` have the same shape ``(n,)``.
    """
    qv, dv = _check_q(q), _check_q(delta, "delta")
    if len(qv) != len(dv):
        raise ValueError(f"delta has {len(dv)} outcomes but q has {len(qv)}")
    return _trade_cost(qv, dv, _check_b(b))


def trade_charge(q: Sequence[int], delta: Sequence[int], b: float) -> int:
    """Integer µc a trader pays for moving integer outstanding shares ``q`` by ``delta`` (both in µs).

    Returns ``ceil(C(q + delta) - C(q) + tol)``, where ``tol`` (about 1e-14 relative) bounds the
    floating-point error: a positive result is the trader's charge rounded UP; a negative result means
    the trader receives ``-result`` µc, i.e. proceeds rounded DOWN. Either way the rounding favours the
    maker, which is what makes :func:`maker_funding` an exact integer bound on the maker's loss.
    """
    qv, dv = _check_int_vector(q, "q"), _check_int_vector(delta, "delta")
    if len(qv) != len(dv):
        raise ValueError(f"delta has {len(dv)} outcomes but q has {len(qv)}")
    bf = _check_b(b)
    return _charge(_trade_cost(qv, dv, bf), _tol(qv, dv, bf))


def buy_charge(q: Sequence[int], outcome: int, shares: int, b: float) -> int:
    """µc (>= 0, rounded up) a trader pays to buy ``shares`` µs (> 0) of ``outcome`` at state ``q``."""
    _check_outcome(q, outcome)
    if isinstance(shares, bool) or not isinstance(shares, int) or shares <= 0:
        raise ValueError(f"shares must be a positive integer number of micro-shares, got {shares!r}")
    return trade_charge(q, _unit(len(q), outcome, shares), b)


def sell_proceeds(q: Sequence[int], outcome: int, shares: int, b: float) -> int:
    """µc (>= 0, rounded down) a trader receives for selling ``shares`` µs (> 0) of ``outcome``.

    The market's outstanding ``q[outcome]`` must cover the sale (positions cannot go short).
    """
    _check_outcome(q, outcome)
    if isinstance(shares, bool) or not isinstance(shares, int) or shares <= 0:
        raise ValueError(f"shares must be a positive integer number of micro-shares, got {shares!r}")
    if shares > q[outcome]:
        raise ValueError(f"cannot sell {shares} µs of outcome {outcome}: only {q[outcome]} outstanding")
    return max(0, -trade_charge(q, _unit(len(q), outcome, -shares), b))


def maker_funding(b: float, n: int) -> int:
    """The maker's worst-case loss ``b * ln(n)`` in µc, rounded UP (plus the float tolerance).

    This is what opening a market with liquidity ``b`` (µc) and ``n`` outcomes escrows from the opener.
    With :func:`trade_charge`'s rounding, ``payout - cash_collected <= b * ln(n) <= maker_funding``
    for every outcome after any sequence of trades that keeps ``q >= 0``.
    """
    bf, nn = _check_b(b), _check_n(n)
    return _charge(bf * math.log(nn), _TOL_REL * bf * (1.0 + math.log(nn)))


def payout(winning_shares: int) -> int:
    """µc paid at resolution for ``winning_shares`` µs of the winning outcome: 1 µc per µs."""
    if isinstance(winning_shares, bool) or not isinstance(winning_shares, int) or winning_shares < 0:
        raise ValueError(f"winning_shares must be a non-negative integer, got {winning_shares!r}")
    return winning_shares


def annulment_refunds(net_costs: Sequence[int], available: int) -> list[int]:
    """Refunds (µc) of each trader's net cost when a market is annulled.

    ``net_costs[k]`` is trader k's total charges minus total proceeds (µc, may be negative: a trader
    who sold at a profit). Every positive net cost is refunded in full when ``available`` (the pool's
    cash plus the maker's funding) covers their sum; otherwise refunds are scaled pro rata and rounded
    down so the total never exceeds ``available``. A negative net cost refunds 0: realised gains are
    kept (taking them back could drive a balance below zero). Returns a list of non-negative ints.
    """
    nets = [_check_int(x, "net_costs") for x in net_costs]
    if _check_int(available, "available") < 0:
        raise ValueError(f"available must be >= 0, got {available}")
    return _refunds([max(0, x) for x in nets], available)


def _refunds(pos: list[int], available: int) -> list[int]:
    return pos if sum(pos) <= available else [x * available // sum(pos) for x in pos]


# ------------------------------------------------------------------------------------ numeric buckets
def bucket_index(value: float, edges: Sequence[float]) -> int:
    """Index of the bucket ``[edges[i], edges[i+1])`` holding ``value`` (the last bucket is closed).

    Values below the range count in bucket 0 and values above it in the last bucket, so every
    resolved value settles exactly one outcome (as ``forecast.scoring.log_score_bucket`` treats them).
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"value must be finite, got {value!r}")
    if len(edges) < 3 or any(not a < b for a, b in zip(edges, edges[1:])):
        raise ValueError("edges must be at least 3 strictly increasing numbers")
    return _bucket(v, list(edges))


def _bucket(v: float, edges: list[float]) -> int:
    return bisect.bisect_right(edges, v, 1, len(edges) - 1) - 1


# ------------------------------------------------------------------------------------------- helpers
def _check_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise ValueError(f"{name} must hold integers, got {x!r}")
    return x


def _check_int_vector(v: Sequence[int], name: str) -> list[int]:
    values = list(v)
    if len(values) < 2 or len(values) > MAX_OUTCOMES:
        raise ValueError(f"{name} must have between 2 and {MAX_OUTCOMES} outcomes, got {len(values)}")
    return [_check_int(x, name) for x in values]


def _check_outcome(q: Sequence[int], outcome: int) -> None:
    if isinstance(outcome, bool) or not isinstance(outcome, int) or not 0 <= outcome < len(q):
        raise ValueError(f"outcome must be an integer in [0, {len(q) - 1}], got {outcome!r}")


def _unit(n: int, outcome: int, amount: int) -> list[int]:
    return [amount if i == outcome else 0 for i in range(n)]
