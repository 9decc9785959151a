"""Commit-reveal for predictions: digest = sha256(salt_utf8 || canonical_json_utf8), hex.

The canonical JSON of a prediction is the body with only its one set field, serialised with sorted
keys, no whitespace, and Python's shortest round-trip float repr, e.g.
`{"probability":0.7}` or `{"quantiles":{"levels":[0.05,0.5,0.95],"values":[0.3,0.5,0.7]}}`.
This module is dependency-free so clients (api/client.py) can import it.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(prediction: dict[str, Any]) -> str:
    """Sorted keys, no spaces, null fields dropped, ints in float fields kept as written."""
    cleaned = {k: v for k, v in prediction.items() if v is not None}
    return json.dumps(cleaned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def commitment_digest(salt: str, prediction: dict[str, Any]) -> str:
    """sha256(salt || canonical JSON of `prediction`) as 64 lowercase hex digits."""
    return hashlib.sha256(salt.encode("utf-8") + canonical_json(prediction).encode("utf-8")).hexdigest()
