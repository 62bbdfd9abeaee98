"""Swagger UI and the OpenAPI schema of the API routes, behind the API's own access rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from assistant.serve.api_errors import ApiError


def add_docs(app: FastAPI, router: APIRouter, allowed, bearer, login_required: bool, description: str) -> None:
    """Swagger UI and the schema of the API routes only (not the viewer's, not Gradio's), behind
    the same access rule; the UI's scripts come from the fastapi-offline wheel, not a CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi
    from fastapi.security import HTTPAuthorizationCredentials
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    schema: dict[str, Any] = {}

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        if not allowed(request, credentials):
            raise ApiError(401, "the API schema needs the API key or the chat login", code="invalid_api_key")
        if not schema:
            schema.update(get_openapi(title="Policy Q&A API", version="1", routes=router.routes,
                                      description=description))
        return JSONResponse(schema)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        if not allowed(request, credentials):
            if login_required:  # a browser: say where to log in (401, so that nothing reads it as the docs)
                return HTMLResponse('<p>请先登录 Please <a href="/">log in</a> first, then reopen /docs.</p>', status_code=401)
            raise ApiError(401, "the API docs need the API key (Authorization: Bearer <key>)", code="invalid_api_key")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Policy Q&A API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon.png")

    app.mount("/docs-static", StaticFiles(directory=str(static)), name="docs-static")
