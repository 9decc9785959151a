"""Admin pages: create questions, upload sealed results, reveal them, resolve or annul a
question, grant credits, and the ledger audit. Each action is the service behind the admin REST route."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import utcnow
from api.db.models import Participant
from api.domain.ledger import service as ledger
from api.domain.ledger.schemas import GrantCreate
from api.domain.ledger.service import MoneyRequest, starting_grant
from api.domain.participants.service import list_participants
from api.domain.questions import service as questions
from api.domain.questions.schemas import QuestionCreate
from api.domain.results import service as results
from api.domain.results.schemas import ResolutionIn, ResultUpload
from api.web.common import FormError, attempt, done, form_of, need_admin, number, page, parse, to_micro

Req = Request[Any, Any, Any]


async def _admin_page(request: Req, session: AsyncSession, admin: Participant, status: int = 200, **extra: Any) -> Template:
    return page(request, "admin.html", admin, status=status,
                results=await results.RESULTS.list_all(session, admin),
                questions=await questions.list_questions(session, admin, None, 500, 0),
                participants=await list_participants(session), audit=await ledger.audit(session), **extra)


@get("/admin")
async def admin_home(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template:
    return await _admin_page(request, db_session, need_admin(viewer))


async def _refused(request: Req, session: AsyncSession, admin: Participant, error: FormError, data: dict[str, str],
                   form: str) -> Template:
    return await _admin_page(request, session, admin, status=422, errors=error.errors, values=data, form=form)


def _link(data: dict[str, str]) -> dict[str, Any] | None:
    if not data.get("link_task"):
        return None
    return {"family": data.get("link_family", ""), "model": data.get("link_model", ""), "task": data["link_task"],
            "metric": data.get("link_metric", ""), "threshold": number(data, "link_threshold", required=False)}


@post("/admin/questions")
async def create_question(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """Create an open question (binary or numeric), optionally linked to an eval-table row."""
    admin = need_admin(viewer)
    data = await form_of(request)
    try:
        fields: dict[str, Any] = {"kind": data.get("kind", "binary"), "title": data.get("title", ""),
                                  "description": data.get("description", ""),
                                  "resolution_criteria": data.get("resolution_criteria", ""),
                                  "closes_at": utcnow() + timedelta(days=number(data, "closes_days")), "link": _link(data)}
        if fields["kind"] == "numeric":
            fields |= {"lower": number(data, "lower"), "upper": number(data, "upper"), "unit": data.get("unit") or None,
                       "scale": data.get("scale") or "linear"}
        created = await attempt(questions.create_question(db_session, admin, parse(QuestionCreate, fields)))
    except FormError as error:
        return await _refused(request, db_session, admin, error, data, "question")
    return done(request, f"/questions/{created.id}", "Question created.")


def _rows(text: str) -> list[dict[str, Any]]:
    """CSV text (a header row, then eval-table rows) as dicts; numbers parsed where they parse."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        parsed: dict[str, Any] = {}
        for key, value in row.items():
            try:
                parsed[key] = float(value)
            except (TypeError, ValueError):
                parsed[key] = value
        rows.append(parsed)
    if not rows:
        raise FormError({"rows": "rows: give a header line and at least one row"})
    return rows


@post("/admin/results")
async def upload_result(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """Upload a sealed result: eval-table rows as CSV, revealed automatically at reveal_at."""
    admin = need_admin(viewer)
    data = await form_of(request)
    try:
        reveal_at = datetime.fromisoformat(data["reveal_at"]) if data.get("reveal_at") else utcnow() + timedelta(days=30)
        body = parse(ResultUpload, {"source": data.get("source", ""), "reveal_at": reveal_at, "rows": _rows(data.get("rows", "")),
                                    "chance": number(data, "chance", required=False)})
        await attempt(results.upload_result(db_session, admin, body))
    except ValueError:
        return await _refused(request, db_session, admin, FormError({"reveal_at": "reveal_at: not an ISO date-time"}), data, "result")
    except FormError as error:
        return await _refused(request, db_session, admin, error, data, "result")
    return done(request, "/admin", "Result uploaded and sealed.")


@post("/admin/results/{result_id:str}/reveal")
async def reveal(request: Req, db_session: AsyncSession, viewer: Participant | None, result_id: str) -> Template | Redirect:
    """Reveal now: resolves and scores every linked question."""
    admin = need_admin(viewer)
    try:
        report = await attempt(results.reveal_result(db_session, admin, result_id))
    except FormError as error:
        return await _refused(request, db_session, admin, error, {}, "reveal")
    return done(request, "/admin", f"Revealed: {len(report.resolved_question_ids)} question(s) resolved.")


@post("/admin/questions/{question_id:str}/{action:str}")
async def settle(request: Req, db_session: AsyncSession, viewer: Participant | None, question_id: str, action: str) -> Template | Redirect:
    """`resolve` (with an outcome) or `annul` a question."""
    admin = need_admin(viewer)
    data = await form_of(request)
    try:
        if action == "resolve":
            body = parse(ResolutionIn, {"outcome": number(data, "outcome")})
            await attempt(results.resolve_manually(db_session, admin, question_id, body))
        elif action == "annul":
            await attempt(results.annul_question(db_session, admin, question_id))
        else:
            raise FormError({"form": f"unknown action {action!r}"})
    except FormError as error:
        return await _refused(request, db_session, admin, error, data, question_id)
    return done(request, f"/questions/{question_id}", "Question resolved." if action == "resolve" else "Question annulled.")


@post("/admin/grants")
async def grant(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """The house mints credits into a participant's account."""
    admin = need_admin(viewer)
    data = await form_of(request)
    call = MoneyRequest(data.get("idem") or None, request.url.path, starting_grant(request.app.state.settings))
    try:
        body = parse(GrantCreate, {"participant_id": data.get("participant_id", ""), "amount": to_micro(data, "amount"),
                                   "memo": data.get("memo", "")})
        await attempt(ledger.grant(db_session, admin, body, call))
    except FormError as error:
        return await _refused(request, db_session, admin, error, data, "grant")
    return done(request, "/admin", "Credits granted.")


ROUTES = [admin_home, create_question, upload_result, reveal, settle, grant]
