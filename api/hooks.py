"""Extension point: code that must run when a question's resolution changes (bets, markets, bots).

The resolution service (`api/domain/results/service.py`) calls every registered hook, in order,
*inside the same database transaction* that resolves, corrects or annuls the question, after the
scores are written and before the commit. A hook that raises rolls the whole resolution back (so a
ledger can never disagree with a resolution). Hooks must only use the given session (no commit).

Register at import time of your feature, and import the feature from `api/app.py`::

    from api.hooks import ResolutionEvent, register_resolution_hook

    async def settle_bets(session: AsyncSession, event: ResolutionEvent) -> None: ...

    register_resolution_hook(settle_bets)
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ResolutionEvent:
    """What changed. `kind`: resolved (first resolution), corrected (new outcome replaces
    `previous_outcome`), annulled (no outcome). `outcome` is 0/1 for binary questions, the value in
    the question's unit for numeric ones. `resolution_id` is the new `resolutions` row."""

    question_id: str
    kind: str
    outcome: float | None
    previous_outcome: float | None
    resolution_id: str
    source: str


ResolutionHook = Callable[[AsyncSession, ResolutionEvent], Awaitable[None]]

_RESOLUTION_HOOKS: list[ResolutionHook] = []


def register_resolution_hook(hook: ResolutionHook) -> ResolutionHook:
    """Add `hook` (once) to the hooks run on every resolution change; usable as a decorator."""
    if hook not in _RESOLUTION_HOOKS:
        _RESOLUTION_HOOKS.append(hook)
    return hook


def unregister_resolution_hook(hook: ResolutionHook) -> None:
    """Remove `hook` if registered (tests)."""
    if hook in _RESOLUTION_HOOKS:
        _RESOLUTION_HOOKS.remove(hook)


async def run_resolution_hooks(session: AsyncSession, event: ResolutionEvent) -> None:
    """Run every registered hook in registration order inside the caller's transaction."""
    for hook in list(_RESOLUTION_HOOKS):
        await hook(session, event)
