"""Error answers: every 4xx/5xx body is ``{"type": "error", "error": <text>}``, like the stream's.

The text is the same wording the stream would use (``agent`` validation messages where they
apply); never a stack trace, a token or a key.
"""

from __future__ import annotations

import logging
from typing import Any

from bailian_geo_agent.prompts.catalogue import Language, use_language
from bailian_geo_agent.prompts.catalogue import text as message_text
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

_STATUS_TEXT = {404: "http_404", 405: "http_405", 413: "http_413"}


class ApiError(Exception):
    """An answer other than 2xx, with the text a person can act on."""

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}


def error_body(text: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error answer (``extra`` such as ``session_id`` after ``error``)."""
    return {"type": "error", "error": text, **extra}


def error_response(status: int, text: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """An error answer."""
    return JSONResponse(error_body(text, **extra), status_code=status, headers=headers)


def describe_validation(errors: list[Any]) -> str:
    """One sentence for a request body that did not parse or match the schema."""
    problems = []
    for error in errors:
        kind = str(error.get("type", ""))
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        where = ".".join(loc)
        if kind == "json_invalid":
            return message_text("body_not_json")
        if not loc and kind in ("model_attributes_type", "dict_type", "missing"):
            return message_text("body_not_object")
        if kind == "missing":
            problems.append(message_text("field_missing", field=where))
        elif kind == "extra_forbidden":
            problems.append(message_text("field_unknown", field=where))
        else:
            problem = error.get("msg", kind)
            problems.append(message_text("field_invalid", field=where, problem=problem))
    joined = "; ".join(problems) or message_text("body_off_schema")
    return message_text("request_invalid", problems=joined)


class ServiceLanguage:
    """Every answer in the service's language (``GEO_AGENT_LANGUAGE``, also when it is set only
    in ``.env``), not the process environment's: error bodies, 401s, the page."""

    def __init__(self, app: ASGIApp, lang: Language) -> None:
        self.app = app
        self.lang = lang

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with use_language(self.lang):
            await self.app(scope, receive, send)


def install_handlers(app: FastAPI) -> None:
    """Answer every error in the documented shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.text, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, describe_validation(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413 and isinstance(exc.detail, str):  # BodySizeLimit's own text
            detail = exc.detail
        else:
            key = _STATUS_TEXT.get(exc.status_code)
            status = exc.status_code
            detail = message_text(key) if key else message_text("http_other", status=status)
        return error_response(exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(500, message_text("server_internal_error"))
