"""/v1/questions."""
from __future__ import annotations

from typing import Annotated, Literal

from litestar import get, patch, post
from litestar.datastructures import State as AppState
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.db.sessions import READ_ONLY, Db
from api.domain.questions import service
from api.domain.questions.schemas import QuestionCreate, QuestionOut, QuestionUpdate
from api.schemas import INT32_MAX

State = Literal["draft", "open", "closed", "resolved", "annulled"]


@post("/v1/questions", tags=["questions"])
async def create_question(db_session: AsyncSession, participant: Participant, data: QuestionCreate) -> QuestionOut:
    """Create a binary or numeric question (state draft or open)."""
    return await service.create_question(db_session, participant, data)


@get("/v1/questions", tags=["questions"])
async def list_questions(
    db_session: AsyncSession, participant: Participant,
    state_filter: Annotated[State | None, Parameter(query="state", required=False)] = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100, offset: Annotated[int, Parameter(ge=0, le=INT32_MAX)] = 0,
) -> list[QuestionOut]:
    """Questions visible to the caller, newest first."""
    return await service.list_questions(db_session, participant, state_filter, limit, offset)


@get("/v1/questions/{question_id:str}", tags=["questions"], opt=READ_ONLY)
async def get_question(state: AppState, participant: Participant, question_id: str) -> QuestionOut:
    """One question with its derived state and forecaster count."""
    return await service.get_question(Db.for_request(state, read_only=True), participant, question_id)


@patch("/v1/questions/{question_id:str}", tags=["questions"])
async def update_question(db_session: AsyncSession, participant: Participant, question_id: str, data: QuestionUpdate) -> QuestionOut:
    """Edit a question (creator or admin, before any prediction)."""
    return await service.update_question(db_session, participant, question_id, data)


@post("/v1/questions/{question_id:str}/open", status_code=200, tags=["questions"])
async def open_question(db_session: AsyncSession, participant: Participant, question_id: str) -> QuestionOut:
    """Publish a draft question."""
    return await service.set_open_state(db_session, participant, question_id, "open")


@post("/v1/questions/{question_id:str}/close", status_code=200, tags=["questions"])
async def close_question(db_session: AsyncSession, participant: Participant, question_id: str) -> QuestionOut:
    """Close an open question now (no more predictions; commitments may still be opened)."""
    return await service.set_open_state(db_session, participant, question_id, "close")


ROUTES = [create_question, list_questions, get_question, update_question, open_question, close_question]
