"""Which language a visitor reads: their choice (a cookie, set by the switch
on every page), else their browser's Accept-Language, else English."""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app import i18n

router = APIRouter()

ONE_YEAR_S = 365 * 24 * 3600


def _headers(scope: Scope) -> dict[bytes, str]:
    return {k: v.decode("latin-1") for k, v in scope.get("headers", [])}


class LanguageMiddleware:
    """Sets the language of everything made for this request (pages, frames
    of its streams). Pure ASGI, so that streams pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = _headers(scope)
            cookies = SimpleCookie()
            try:
                cookies.load(headers.get(b"cookie", ""))
            except Exception:  # a malformed Cookie header: no choice made
                cookies = SimpleCookie()
            morsel = cookies.get(i18n.COOKIE)
            i18n.set_current(
                i18n.choose(morsel.value if morsel else None, headers.get(b"accept-language"))
            )
        await self.app(scope, receive, send)


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/") -> RedirectResponse:
    """Remember a language and go back where the visitor was."""
    if not next.startswith("/") or next.startswith("//"):
        next = "/"
    response = RedirectResponse(next, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, code, max_age=ONE_YEAR_S, samesite="strict", httponly=True)
    return response
