"""The APIs' errors: one exception that becomes OpenAI's error shape, and the handlers that log one
line per rejected request and never echo the input or a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from assistant.serve.guard import short

log = logging.getLogger("assistant.serve.api")


class ApiError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def add_error_handlers(app: FastAPI) -> None:
    def rejected(request: Request, status: int, message: str) -> None:
        client = request.client.host if request.client else "unknown"
        log.warning("rejected %s %s from %s: %d %s", request.method, short(request.url.path, 60), client, status, message[:200])

    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        rejected(request, exc.status, exc.message)
        return exc.response()

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # pydantic's messages name the field and the rule; the input itself is never echoed
        problems, fields = [], []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
            what = "the body is not valid JSON" if error.get("type") == "json_invalid" else error.get("msg", "invalid")
            problems.append(f"{where}: {what}" if where else what)
            fields.append(where)
        error = ApiError(400, "invalid request: " + "; ".join(problems), param=next((f for f in fields if f), None))
        rejected(request, 400, error.message)
        return error.response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
