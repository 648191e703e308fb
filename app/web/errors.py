"""The one place that maps the app's exceptions to HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from app.params import FieldError, ParamsError
from app.runs import LimitReached, NotFound, NotLive


def _body_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        out.append(FieldError(field, f"{field}: {err.get('msg', 'invalid')}"))
    return out


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
            return _unprocessable([FieldError("body", "body: not JSON text (UTF-8)")])
        return await http_exception_handler(request, exc)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(NotLive)
    async def not_live(request: Request, exc: NotLive) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(LimitReached)
    async def limit(request: Request, exc: LimitReached) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429)
