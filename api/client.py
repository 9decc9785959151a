"""Typed Python client for the Turnsignal REST API (httpx; sync `Client` and async `AsyncClient`).

    from api.client import Client
    with Client("http://127.0.0.1:8000", api_key="ts_...") as ts:
        q = ts.create_question({"kind": "binary", "title": "...", "closes_at": "2030-01-01T00:00:00Z"})
        ts.submit_prediction(q["id"], {"probability": 0.7}, idempotency_key="my-retry-key")

Replies are the JSON bodies (dicts/lists) documented at /schema. Any non-2xx reply raises
`ApiError(status, message, field)` carrying the service's error body. The module imports only
httpx, so it can be vendored into other tools.
"""
from __future__ import annotations

import secrets
from typing import Any

import httpx

from api.commitment import commitment_digest

Json = dict[str, Any]


class ApiError(Exception):
    """A non-2xx reply: `status`, `message` and `field` from `{"error": {...}}`."""

    def __init__(self, status: int, message: str, field: str | None) -> None:
        super().__init__(f"{status}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.message, self.field = status, message, field


def _unwrap(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        error = response.json()["error"]
        raise ApiError(response.status_code, error.get("message", ""), error.get("field"))
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, response.text[:200], None) from None


def new_commitment(prediction: Json) -> tuple[str, str]:
    """(salt, digest) for commit-reveal: keep the salt secret until you open the commitment."""
    salt = secrets.token_hex(16)
    return salt, commitment_digest(salt, prediction)


class _Requests:
    """Request builders shared by both clients: (method, path, kwargs)."""

    @staticmethod
    def register(handle: str, display_name: str, role: str = "participant", is_bot: bool = False) -> tuple[str, str, Json]:
        return "POST", "/v1/participants", {"json": {"handle": handle, "display_name": display_name, "role": role, "is_bot": is_bot}}

    @staticmethod
    def submit(question_id: str, prediction: Json, idempotency_key: str | None) -> tuple[str, str, Json]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return "POST", f"/v1/questions/{question_id}/predictions", {"json": prediction, "headers": headers}


class Client:
    """Synchronous client. `api_key` is sent as `Authorization: Bearer <key>`."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, **httpx_options: Any) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, **httpx_options)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any call: JSON reply on success, `ApiError` otherwise."""
        return _unwrap(self._http.request(method, path, **kwargs))

    # participants
    def register(self, handle: str, display_name: str, role: str = "participant", is_bot: bool = False) -> Json:
        """Register; the reply's `api_key` is shown only once."""
        method, path, kw = _Requests.register(handle, display_name, role, is_bot)
        return self.request(method, path, **kw)

    def me(self) -> Json:
        return self.request("GET", "/v1/me")

    # questions
    def create_question(self, question: Json) -> Json:
        return self.request("POST", "/v1/questions", json=question)

    def question(self, question_id: str) -> Json:
        return self.request("GET", f"/v1/questions/{question_id}")

    def questions(self, state: str | None = None) -> list[Json]:
        return self.request("GET", "/v1/questions", params={"state": state} if state else None)

    def close_question(self, question_id: str) -> Json:
        return self.request("POST", f"/v1/questions/{question_id}/close")

    # predictions
    def submit_prediction(self, question_id: str, prediction: Json, idempotency_key: str | None = None) -> Json:
        """`prediction`: {"probability": p} | {"quantiles": {"levels": [...], "values": [...]}} | {"cdf": [...]}
        | {"commitment": hex}."""
        method, path, kw = _Requests.submit(question_id, prediction, idempotency_key)
        return self.request(method, path, **kw)

    def open_commitment(self, prediction_id: str, salt: str, prediction: Json) -> Json:
        return self.request("POST", f"/v1/predictions/{prediction_id}/open", json={"salt": salt, "prediction": prediction})

    def predictions(self, question_id: str) -> list[Json]:
        return self.request("GET", f"/v1/questions/{question_id}/predictions")

    def prediction(self, prediction_id: str) -> Json:
        return self.request("GET", f"/v1/predictions/{prediction_id}")

    # results and resolution (admin)
    def upload_result(self, source: str, reveal_at: str, rows: list[Json], chance: float | None = None) -> Json:
        return self.request("POST", "/v1/results", json={"source": source, "reveal_at": reveal_at, "rows": rows, "chance": chance})

    def result(self, result_id: str) -> Json:
        return self.request("GET", f"/v1/results/{result_id}")

    def reveal(self, result_id: str) -> Json:
        return self.request("POST", f"/v1/results/{result_id}/reveal")

    def resolve(self, question_id: str, outcome: float) -> Json:
        return self.request("POST", f"/v1/questions/{question_id}/resolution", json={"outcome": outcome})

    def annul(self, question_id: str) -> Json:
        return self.request("POST", f"/v1/questions/{question_id}/annul")

    # scores
    def scores(self, question_id: str, history: bool = False) -> list[Json]:
        return self.request("GET", f"/v1/questions/{question_id}/scores", params={"history": str(history).lower()})

    def leaderboard(self, metric: str = "log_score", min_questions: int | None = None) -> Json:
        params: dict[str, Any] = {"metric": metric}
        if min_questions is not None:
            params["min_questions"] = min_questions
        return self.request("GET", "/v1/leaderboard", params=params)

    def calibration(self, participant_id: str, n_bins: int = 10) -> Json:
        return self.request("GET", f"/v1/participants/{participant_id}/calibration", params={"n_bins": n_bins})


class AsyncClient:
    """Asynchronous client with the same methods as `Client` (awaitable)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, **httpx_options: Any) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, **httpx_options)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return _unwrap(await self._http.request(method, path, **kwargs))

    async def register(self, handle: str, display_name: str, role: str = "participant", is_bot: bool = False) -> Json:
        method, path, kw = _Requests.register(handle, display_name, role, is_bot)
        return await self.request(method, path, **kw)

    async def me(self) -> Json:
        return await self.request("GET", "/v1/me")

    async def create_question(self, question: Json) -> Json:
        return await self.request("POST", "/v1/questions", json=question)

    async def question(self, question_id: str) -> Json:
        return await self.request("GET", f"/v1/questions/{question_id}")

    async def submit_prediction(self, question_id: str, prediction: Json, idempotency_key: str | None = None) -> Json:
        method, path, kw = _Requests.submit(question_id, prediction, idempotency_key)
        return await self.request(method, path, **kw)

    async def open_commitment(self, prediction_id: str, salt: str, prediction: Json) -> Json:
        return await self.request("POST", f"/v1/predictions/{prediction_id}/open", json={"salt": salt, "prediction": prediction})

    async def predictions(self, question_id: str) -> list[Json]:
        return await self.request("GET", f"/v1/questions/{question_id}/predictions")

    async def upload_result(self, source: str, reveal_at: str, rows: list[Json], chance: float | None = None) -> Json:
        return await self.request("POST", "/v1/results", json={"source": source, "reveal_at": reveal_at, "rows": rows, "chance": chance})

    async def reveal(self, result_id: str) -> Json:
        return await self.request("POST", f"/v1/results/{result_id}/reveal")

    async def scores(self, question_id: str, history: bool = False) -> list[Json]:
        return await self.request("GET", f"/v1/questions/{question_id}/scores", params={"history": str(history).lower()})

    async def leaderboard(self, metric: str = "log_score", min_questions: int | None = None) -> Json:
        params: dict[str, Any] = {"metric": metric}
        if min_questions is not None:
            params["min_questions"] = min_questions
        return await self.request("GET", "/v1/leaderboard", params=params)

    async def calibration(self, participant_id: str, n_bins: int = 10) -> Json:
        return await self.request("GET", f"/v1/participants/{participant_id}/calibration", params={"n_bins": n_bins})
