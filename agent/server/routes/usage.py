"""``GET /v1/usage``: the model tokens the calling API token has spent (today, all time)."""

from __future__ import annotations

from bailian_geo_agent.agent.server.state import ERRORS, Caller, State, log_error
from bailian_geo_agent.agent.server.usage import today, token_id
from fastapi import APIRouter
from pydantic import BaseModel, Field

router = APIRouter(tags=["usage"])


class UsageTotals(BaseModel):
    """Tokens of a set of replies, every model call summed."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = Field(0, description="part of output_tokens")
    cached_tokens: int = Field(0, description="part of input_tokens (the provider's cache)")
    cache_creation_tokens: int = Field(
        0, description="part of input_tokens (written to an explicit context cache)")
    total_tokens: int = Field(0, description="input + output; what the daily budget counts")
    replies: int = 0


class UsageReport(BaseModel):
    """One API token's spending."""

    api_token: str = Field(description="the token's id (a short hash; the metrics' label)")
    date: str = Field(description="today, UTC (YYYY-MM-DD)")
    today: UsageTotals
    all_time: UsageTotals
    daily_token_budget: int | None = Field(
        None, description="GEO_AGENT_DAILY_TOKEN_BUDGET (none: no budget)")
    budget_left: int | None = Field(None, description="tokens left today under the budget")


@router.get("/v1/usage", response_model=UsageReport,
            responses={k: v for k, v in ERRORS.items() if k in (401, 429, 503)})
async def usage(identity: Caller, state: State) -> UsageReport:
    """The tokens your API token has spent (its own totals only): today (UTC) and all time,
    and what is left of the daily budget."""
    tid = token_id(identity.owner)
    try:
        day, total = await state.usage.read(tid)
    except Exception as exc:
        raise log_error(exc) from None
    budget = state.settings.daily_token_budget or None
    return UsageReport(
        api_token=tid, date=today(), today=UsageTotals(**day.as_dict()),
        all_time=UsageTotals(**total.as_dict()), daily_token_budget=budget,
        budget_left=max(0, budget - day.total_tokens) if budget else None)
