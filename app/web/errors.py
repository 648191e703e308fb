"""The one place that maps the app's exceptions to HTTP responses.

The JSON API answers in JSON, always. A page a browser asks for that does not
exist gets a page: the site's 404, in the reader's language.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from app.experiments import EXPERIMENTS
from app.experiments.spec import Unavailable
from app.i18n import _
from app.params import FieldError, ParamsError
from app.runs import LimitReached, NotFound, NotLive
from app.web.render import templates


def not_json(doc: str, pos: int, error: str) -> FieldError:
    """A body that is no JSON text: what is wrong, and where (as editors
    count: line and column from 1)."""
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return FieldError(
        "body",
        _("the body is not valid JSON: %(error)s at line %(line)s column %(column)s")
        % {"error": error, "line": line, "column": column},
    )


def _body_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # FastAPI's own error for it says "0: JSON decode error"; the
            # decoder's message and position are in it (fastapi/routing.py).
            loc = err.get("loc", ())
            pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
            doc = exc.body if isinstance(exc.body, str) else ""
            out.append(not_json(doc, pos, str((err.get("ctx") or {}).get("error", ""))))
            continue
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        out.append(FieldError(field, f"{field}: {err.get('msg', 'invalid')}"))
    return out


def _wants_page(request: Request) -> bool:
    """A browser going to a page (not the JSON API, not a stream)."""
    return (
        request.method in ("GET", "HEAD")
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )


def _not_found_page(request: Request) -> Response:
    context: dict[str, Any] = {"missing": request.url.path, "experiments": EXPERIMENTS.values()}
    return templates.TemplateResponse(request, "404.html", context, status_code=404)


def _unprocessable(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(
        {"detail": "; ".join(e.message for e in errors), "errors": [e.to_dict() for e in errors]},
        status_code=422,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ParamsError)
    async def params_error(request: Request, exc: ParamsError) -> JSONResponse:
        return _unprocessable(exc.errors)

    @app.exception_handler(RequestValidationError)
    async def body_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _unprocessable(_body_errors(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # FastAPI's own answer to a body it cannot even decode (not UTF-8):
        # a refused body, like every other one.
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return _unprocessable(
                [FieldError("body", _("the body is not valid JSON: it is not UTF-8 text"))]
            )
        if exc.status_code == 404 and _wants_page(request):
            return _not_found_page(request)
        return await http_exception_handler(request, exc)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _wants_page(request):
            return _not_found_page(request)
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(NotLive)
    async def not_live(request: Request, exc: NotLive) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(LimitReached)
    async def limit(request: Request, exc: LimitReached) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429)
