"""Direction and reversal of the smooth trend (forecast/direction.py): simulated trends whose truth is
known. A trend that turns from improving to worsening inside the training range is flagged; a
monotone one (straight or saturating power law) is not, and is called improving."""
import numpy as np
import pytest

from forecast.direction import REVERSAL_FLAG, trend_direction

X = np.repeat(np.linspace(19.0, 22.0, 7), 3)  # 7 sizes x 3 token multiples, log10 FLOPs


def _series(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = X + rng.normal(0.0, 0.05, X.size)
    truth = {"power_law": 2.0 * np.exp(-0.5 * (x - 19.0)),
             "straight": -0.8 * (x - 20.5),
             "turns": np.where(x < 21.0, -0.8 * (x - 21.0), 0.9 * (x - 21.0))}[kind]
    y = truth + rng.normal(0.0, 0.08, x.size)
    return x, (y - y.mean()) / y.std()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["power_law", "straight"])
def test_a_monotone_trend_is_improving_and_not_flagged(kind: str, seed: int) -> None:
    result = trend_direction(*_series(kind, seed), seed=seed)
    assert result.p_improving > 0.95 and result.p_reversal < 0.1 and not result.reversal_flag


@pytest.mark.parametrize("seed", range(5))
def test_a_trend_that_turns_is_flagged(seed: int) -> None:
    result = trend_direction(*_series("turns", seed), seed=seed)
    assert result.p_reversal >= REVERSAL_FLAG and result.reversal_flag
    assert result.p_improving < 0.05 and result.bent_weight > 0.9


def test_a_straight_trend_gives_the_bent_alternative_little_weight() -> None:
    assert trend_direction(*_series("straight", 0)).bent_weight < 0.5


def test_too_few_points_give_nan_and_at_moves_the_judgement() -> None:
    nan = trend_direction(np.array([19.0, 19.0, 20.0]), np.array([1.0, 0.9, 0.0]))
    assert np.isnan(nan.p_improving) and np.isnan(nan.p_reversal) and not nan.reversal_flag
    x, y = _series("turns", 1)
    before_bend = trend_direction(x, y, at=20.0)  # judged before the turn: still improving there
    assert before_bend.p_improving > 0.95 and before_bend.p_reversal < 0.05
    assert trend_direction(x, y, seed=3).to_dict() == trend_direction(x, y, seed=3).to_dict()
