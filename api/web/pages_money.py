"""Money: balance and ledger (paged), bet offers (create, accept, cancel; odds in words) and
markets (prices, price history, buy/sell with the quote and its slippage bound shown before
confirming). Every move goes through the ledger, bets and markets services with the form's
Idempotency-Key, exactly as the REST routes do."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import utcnow
from api.db.models import Participant
from api.domain.bets import service as bets
from api.domain.bets.schemas import BetOffer
from api.domain.ledger import service as ledger
from api.domain.ledger.service import MoneyRequest, starting_grant
from api.domain.markets import service as markets
from api.domain.markets.schemas import MarketCreate, TradeCreate
from api.domain.questions.service import list_questions
from api.web.common import MICRO, FormError, attempt, credits, done, form_of, need, number, page, parse, to_micro
from forecast import lmsr

Req = Request[Any, Any, Any]


def _money(request: Req, data: dict[str, str]) -> MoneyRequest:
    return MoneyRequest(data.get("idem") or None, request.url.path, starting_grant(request.app.state.settings))


@get("/money")
async def money(request: Req, db_session: AsyncSession, viewer: Participant | None, before: int | None = None) -> Template:
    """Balance and the ledger, newest first, 25 lines a page."""
    me = need(viewer)
    grant = starting_grant(request.app.state.settings)
    balance = await ledger.my_balance(db_session, me, grant)
    lines = await ledger.my_ledger(db_session, me, grant, 25, before)
    return page(request, "money.html", me, balance=balance, ledger=lines)


def describe_bet(bet: Any, people: dict[str, Participant] | None = None) -> str:
    """The bet in words: who backs what, the stakes and the probability the odds imply."""
    prop = bet.proposition
    if prop["kind"] == "binary":
        claim = "the question resolves " + ("YES" if prop["outcome"] else "NO")
    elif prop["kind"] == "compare":
        claim = f"the outcome is {prop['op']} {prop['threshold']:g}"
    else:
        claim = f"the outcome lies in [{prop['lower']:g}, {prop['upper']:g}]"
    side = "that" if bet.offerer_side == "for" else "against the claim that"
    implied = bet.offerer_stake / (bet.offerer_stake + bet.taker_stake)
    return (f"The offerer bets {side} {claim}: they risk {credits(bet.offerer_stake)} credits to win "
            f"{credits(bet.taker_stake)} (odds {bet.offerer_stake / bet.taker_stake:.3g}:1, so they say at least "
            f"{implied:.0%}); the taker risks {credits(bet.taker_stake)} to win {credits(bet.offerer_stake)}.")


async def _bets_page(request: Req, session: AsyncSession, me: Participant, status: int = 200, **extra: Any) -> Template:
    rows = await bets.list_bets(session, me, None, None)
    open_questions = await list_questions(session, me, "open", 500, 0)
    return page(request, "bets.html", me, status=status, bets=[(b, describe_bet(b)) for b in rows],
                questions=open_questions, **extra)


@get("/bets")
async def bet_list(request: Req, db_session: AsyncSession, viewer: Participant | None, question_id: str = "") -> Template:
    return await _bets_page(request, db_session, need(viewer), values={"question_id": question_id, "expires_hours": "24"})


def _proposition(data: dict[str, str]) -> dict[str, Any]:
    claim = data.get("claim", "yes")
    if claim in {"yes", "no"}:
        return {"kind": "binary", "outcome": claim == "yes"}
    if claim == "between":
        return {"kind": "interval", "lower": number(data, "lower"), "upper": number(data, "upper")}
    return {"kind": "compare", "op": ">=" if claim == "above" else "<", "threshold": number(data, "threshold")}


@post("/bets")
async def offer_bet(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """Offer a bet: the stake is escrowed now."""
    me = need(viewer)
    data = await form_of(request)
    try:
        hours = number(data, "expires_hours")
        body = parse(BetOffer, {"question_id": data.get("question_id", ""), "proposition": _proposition(data),
                                "side": data.get("side", "for"), "stake": to_micro(data, "stake"),
                                "taker_stake": to_micro(data, "taker_stake"),
                                "expires_at": utcnow() + timedelta(hours=hours)})
        await attempt(bets.offer(db_session, me, body, _money(request, data)))
    except FormError as error:
        return await _bets_page(request, db_session, me, status=422, errors=error.errors, values=data)
    return done(request, "/bets", "Bet offered: your stake is escrowed until it is accepted, cancelled or expires.")


@post("/bets/{bet_id:str}/{action:str}")
async def bet_action(request: Req, db_session: AsyncSession, viewer: Participant | None, bet_id: str, action: str) -> Template | Redirect:
    """Accept or cancel a bet."""
    me = need(viewer)
    data = await form_of(request)
    call = {"accept": bets.accept, "cancel": bets.cancel}.get(action)
    if call is None:
        return await _bets_page(request, db_session, me, status=404, errors={"form": f"unknown action {action!r}"})
    try:
        await attempt(call(db_session, me, bet_id, _money(request, data)))
    except FormError as error:
        return await _bets_page(request, db_session, me, status=409, errors=error.errors)
    return done(request, "/bets", "Bet accepted: both stakes are escrowed." if action == "accept"
                else "Offer cancelled: your stake is back.")


@get("/markets")
async def market_list(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template:
    me = need(viewer)
    return page(request, "markets.html", me, markets=await markets.list_markets(db_session, None),
                questions=await list_questions(db_session, me, "open", 500, 0))


@post("/markets")
async def open_market(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """Open an LMSR market; the opener pays the maker's funding."""
    me = need(viewer)
    data = await form_of(request)
    try:
        body = parse(MarketCreate, {"question_id": data.get("question_id", ""), "b": to_micro(data, "b")})
        result = await attempt(markets.open_market(db_session, me, body, _money(request, data)))
    except FormError as error:
        return page(request, "markets.html", me, status=422, errors=error.errors, values=data,
                    markets=await markets.list_markets(db_session, None),
                    questions=await list_questions(db_session, me, "open", 500, 0))
    return done(request, f"/markets/{result.content['id']}", "Market opened.")


def _quote(market: Any, side: str, outcome: int, shares: int) -> int | None:
    """µc a buy costs (or a sale pays) now, or None if the request is out of range."""
    if not 0 <= outcome < market.n_outcomes or shares <= 0:
        return None
    try:
        if side == "buy":
            return lmsr.buy_charge(market.q, outcome, shares, market.b)
        return lmsr.sell_proceeds(market.q, outcome, shares, market.b)
    except ValueError:
        return None


def _history_points(history: list[Any], n_outcomes: int) -> list[list[float]]:
    """Per outcome, the price after each trade (starting uniform), for the chart."""
    series = [[1 / n_outcomes] for _ in range(n_outcomes)]
    for point in history:
        for k in range(n_outcomes):
            series[k].append(point.prices_after[k])
    return series


async def _market_page(request: Req, session: AsyncSession, me: Participant, market_id: str, status: int = 200,
                       **extra: Any) -> Template:
    market = await markets.get_market(session, market_id)
    history = await markets.history(session, market_id, 0, 1000)
    mine = await markets.positions(session, me, market_id)
    return page(request, "market.html", me, status=status, market=market, series=_history_points(history, market.n_outcomes),
                positions=mine, **extra)


@get("/markets/{market_id:str}")
async def market_page(request: Req, db_session: AsyncSession, viewer: Participant | None, market_id: str,
                      side: str = "", outcome: int = 0, shares: float = 0.0) -> Template:
    """The market; with side/outcome/shares, also the quote and a confirm form carrying its bound."""
    me = need(viewer)
    market = await markets.get_market(db_session, market_id)
    quote = None
    micro_shares = int(round(shares * MICRO))
    if side in {"buy", "sell"}:
        quote = _quote(market, side, outcome, micro_shares)
    return await _market_page(request, db_session, me, market_id, quote=quote,
                              values={"side": side, "outcome": outcome, "shares": shares or ""})


@post("/markets/{market_id:str}/trade")
async def trade(request: Req, db_session: AsyncSession, viewer: Participant | None, market_id: str) -> Template | Redirect:
    """Buy or sell with the slippage bound shown on the confirm form."""
    me = need(viewer)
    data = await form_of(request)
    try:
        side = data.get("side", "")
        bound = to_micro(data, "bound")
        body = parse(TradeCreate, {"side": side, "outcome": number(data, "outcome", integer=True),
                                   "shares": to_micro(data, "shares"),
                                   "max_cost" if side == "buy" else "min_proceeds": bound})
        result = await attempt(markets.trade(db_session, me, market_id, body, _money(request, data)))
    except FormError as error:
        return await _market_page(request, db_session, me, market_id, status=422, errors=error.errors, values=data)
    amount = result.content["amount"]
    verb = f"paid {credits(amount)}" if amount >= 0 else f"received {credits(-amount)}"
    return done(request, f"/markets/{market_id}", f"Trade done: you {verb} credits.")


ROUTES = [money, bet_list, offer_bet, bet_action, market_list, open_market, market_page, trade]
