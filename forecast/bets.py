"""Two-person bets: what a proposition says, whether it held, and who gets the pot (pure, no database).

Money is integer micro-credits (µc; 1 credit = 1_000_000 µc). A bet has an offerer's stake and a
taker's stake (the odds: offering 3 credits against 1 is ``offerer_stake=3_000_000,
taker_stake=1_000_000``). Both are escrowed at acceptance; at resolution the winner receives the whole
pot ``offerer_stake + taker_stake``; at annulment each gets their own stake back.

Propositions (plain dicts, as stored and as sent over the API):

- binary question: ``{"kind": "binary", "outcome": true}`` -- "the question resolves yes" (false: no);
- numeric question: ``{"kind": "compare", "op": "<" | "<=" | ">=" | ">", "threshold": x}`` -- "the
  resolved value <op> x";
- numeric question: ``{"kind": "interval", "lower": a, "upper": c}`` -- "a <= value <= c" (closed).

The offerer takes ``side="for"`` (wins if the proposition holds) or ``side="against"``.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt}
SIDES = ("for", "against")


def _num(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise ValueError(f"proposition.{name} must be a finite number, got {x!r}")
    return float(x)


def validate_proposition(prop: Mapping[str, Any], question_kind: str, lower: float | None = None,
                         upper: float | None = None) -> dict[str, Any]:
    """Check a proposition against its question and return it normalised (only the known keys).

    ``question_kind`` is ``"binary"`` or ``"numeric"``; for numeric questions with a range
    ``[lower, upper]``, thresholds and interval ends must lie inside it (a proposition decided before
    the result is known is not a bet). Raises ``ValueError`` naming the offending field.
    """
    if not isinstance(prop, Mapping):
        raise ValueError("proposition must be an object")
    kind = prop.get("kind")
    if question_kind == "binary":
        if kind != "binary":
            raise ValueError(f"proposition.kind must be 'binary' for a binary question, got {kind!r}")
        if not isinstance(prop.get("outcome"), bool):
            raise ValueError("proposition.outcome must be true or false")
        return {"kind": "binary", "outcome": prop["outcome"]}
    if question_kind != "numeric":
        raise ValueError(f"unknown question kind {question_kind!r}")

    def inside(x: float, name: str) -> float:
        if (lower is not None and x < lower) or (upper is not None and x > upper):
            raise ValueError(f"proposition.{name} must lie inside the question's range [{lower}, {upper}]")
        return x

    if kind == "compare":
        op = prop.get("op")
        if op not in COMPARATORS:
            raise ValueError(f"proposition.op must be one of {sorted(COMPARATORS)}, got {op!r}")
        return {"kind": "compare", "op": op, "threshold": inside(_num(prop.get("threshold"), "threshold"), "threshold")}
    if kind == "interval":
        lo = inside(_num(prop.get("lower"), "lower"), "lower")
        hi = inside(_num(prop.get("upper"), "upper"), "upper")
        if not lo < hi:
            raise ValueError("proposition.lower must be below proposition.upper")
        return {"kind": "interval", "lower": lo, "upper": hi}
    raise ValueError(f"proposition.kind must be 'compare' or 'interval' for a numeric question, got {kind!r}")


def proposition_holds(prop: Mapping[str, Any], value: float | bool) -> bool:
    """Whether a (validated) proposition is true of the resolved value.

    Binary questions resolve to a bool (or 0/1); numeric ones to a finite number.
    """
    if prop["kind"] == "binary":
        if value not in (True, False, 0, 1):
            raise ValueError(f"a binary question resolves to true/false, got {value!r}")
        return bool(value) == prop["outcome"]
    v = _num(value, "value")
    return _holds(prop, v)


def _holds(prop: Mapping[str, Any], v: float) -> bool:
    return COMPARATORS[prop["op"]](v, prop["threshold"]) if prop["kind"] == "compare" else prop["lower"] <= v <= prop["upper"]


def settlement(offerer_stake: int, taker_stake: int, offerer_side: str, holds: bool) -> tuple[int, int]:
    """(µc to the offerer, µc to the taker) when the bet resolves: the winner takes the whole pot."""
    for name, s in (("offerer_stake", offerer_stake), ("taker_stake", taker_stake)):
        if isinstance(s, bool) or not isinstance(s, int) or s <= 0:
            raise ValueError(f"{name} must be a positive integer number of micro-credits, got {s!r}")
    if offerer_side not in SIDES:
        raise ValueError(f"offerer_side must be 'for' or 'against', got {offerer_side!r}")
    return _settle(offerer_stake + taker_stake, (offerer_side == "for") == bool(holds))


def _settle(pot: int, offerer_wins: bool) -> tuple[int, int]:
    return (pot, 0) if offerer_wins else (0, pot)
