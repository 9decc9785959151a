"""Administrative actions run outside the HTTP server (used by `turnsignal admin ...`)."""
from __future__ import annotations

from api.db import create_engine, create_session_factory, run_migrations
from api.errors import ApiError
from api.settings import Settings


async def create_participant_with_migrations(
    handle: str, display_name: str, role: str, is_bot: bool, settings: Settings | None = None
) -> str:
    """Migrate the configured database, create a participant and return its API key.

    Raises ValueError (bad handle/role, handle taken) with a message fit for the command line."""
    from api.domain.participants.schemas import ParticipantCreate
    from api.domain.participants.service import create_participant

    if role not in {"admin", "participant"}:
        raise ValueError("role must be 'admin' or 'participant'")
    engine = create_engine(settings or Settings.from_env())
    try:
        await run_migrations(engine)
        data = ParticipantCreate(handle=handle, display_name=display_name, role=role, is_bot=is_bot)  # type: ignore[arg-type]
        async with create_session_factory(engine)() as session:
            created = await create_participant(session, data)
        return created.api_key
    except ApiError as error:
        raise ValueError(error.message) from None
    finally:
        await engine.dispose()
