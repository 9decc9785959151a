"""Resolved predictions and their scores written straight into the project's tables, for the
leaderboard benchmark (`bench_api_load`): `seed_scores(url, schema, n)` adds 500 participants, 1,000
resolved binary questions, and `n` predictions each with its current score (random probabilities).
"""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from api.auth import hash_api_key, new_api_key
from api.db import create_engine, new_id, utcnow
from api.db.models import Participant, Prediction, Question, Resolution, Score
from api.settings import Settings

N_PARTICIPANTS = 500
N_QUESTIONS = 1_000
CHUNK = 5_000


def _participants(n: int) -> list[dict[str, Any]]:
    return [{"id": new_id(), "handle": f"lb{i}-{new_id()[:6]}", "display_name": f"LB {i}", "role": "participant",
             "is_bot": False, "api_key_hash": hash_api_key(new_api_key())} for i in range(n)]


def _questions(n: int, creator_id: str) -> list[dict[str, Any]]:
    now = utcnow()
    return [{"id": new_id(), "kind": "binary", "title": f"lb question {i}", "creator_id": creator_id,
             "state": "resolved", "opens_at": now - timedelta(days=2), "closes_at": now - timedelta(days=1),
             "outcome": float(i % 2), "resolved_at": now} for i in range(n)]


def _predictions_and_scores(n: int, participants: list[str], questions: list[dict[str, Any]],
                            resolutions: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import math

    rng = random.Random(0)
    predictions, scores = [], []
    for _ in range(n):
        question = questions[rng.randrange(len(questions))]
        participant_id = participants[rng.randrange(len(participants))]
        p = rng.uniform(0.001, 0.999)
        outcome = question["outcome"]
        prediction_id = new_id()
        predictions.append({"id": prediction_id, "question_id": question["id"], "participant_id": participant_id,
                            "kind": "probability", "probability": p})
        scores.append({"id": new_id(), "prediction_id": prediction_id, "question_id": question["id"],
                       "participant_id": participant_id, "resolution_id": resolutions[question["id"]],
                       "is_current": True, "outcome": outcome, "probability": p,
                       "log_score": math.log(p if outcome else 1 - p), "brier": (p - outcome) ** 2})
    return predictions, scores


async def seed_scores(url: str, schema: str | None, n: int) -> None:
    """Add `n` resolved predictions with current scores to the (migrated) database at `url`."""
    engine = create_engine(Settings(database_url=url, database_schema=schema))
    participants = _participants(N_PARTICIPANTS)
    questions = _questions(N_QUESTIONS, participants[0]["id"])
    resolutions = [{"id": new_id(), "question_id": q["id"], "version": 1, "kind": "resolved", "outcome": q["outcome"],
                    "source": "manual"} for q in questions]
    predictions, scores = _predictions_and_scores(
        n, [p["id"] for p in participants], questions, {r["question_id"]: r["id"] for r in resolutions})
    try:
        async with engine.begin() as connection:
            for model, rows in ((Participant, participants), (Question, questions), (Resolution, resolutions),
                                (Prediction, predictions), (Score, scores)):
                for start in range(0, len(rows), CHUNK):
                    await connection.execute(insert(model), rows[start:start + CHUNK])
    finally:
        await engine.dispose()
