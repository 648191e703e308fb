"""Who may change runs: the presenter, and only from this site.

- `concviz` alone binds 127.0.0.1 and whoever uses it is the presenter.
- `concviz --lan` binds every interface. The presenter's address carries a
  secret token (`secrets.token_urlsafe`); opening it exchanges the token for
  an HttpOnly, SameSite=Strict cookie and redirects to the same address
  without the token. Every control request (any method but GET, HEAD and
  OPTIONS) without that cookie gets 403 and changes nothing, whoever sends it.
- In both modes a control request from another site gets 403: its `Origin`
  must name this server, and `Sec-Fetch-Site` must not say "cross-site".
- A joined worker's batches (`POST /join/{run}/{token}/events`, from
  another machine) carry their own credential, the run's join token, which
  their route checks (app/web/joins.py); they need no presenter.
"""

from __future__ import annotations

import hmac
import re
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import Settings
from app.web import addresses

COOKIE = "concviz_presenter"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The one control request on a token of its own (see the module's doc).
TOKEN_ROUTE = re.compile(r"^/join/[^/]+/[^/]+/events$")


class Presenter:
    def __init__(self, lan: bool) -> None:
        self.lan = lan
        self.token = secrets.token_urlsafe(24) if lan else ""
        self._session = secrets.token_urlsafe(32)

    def is_presenter(self, cookie_header: str) -> bool:
        if not self.lan:
            return True
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:  # a malformed Cookie header is no presenter
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self._session)

    def cookie(self) -> str:
        return f"{COOKIE}={self._session}; Path=/; HttpOnly; SameSite=Strict"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def same_origin(scope: Scope) -> bool:
    """A browser's request from this site, or a request from no browser."""
    origin = _header(scope, b"origin")
    if origin:
        return origin != "null" and urlsplit(origin).netloc == _header(scope, b"host")
    return _header(scope, b"sec-fetch-site") != "cross-site"


class PresenterGate:
    """Pure ASGI, so that streams pass untouched."""

    def __init__(self, app: ASGIApp, presenter: Presenter) -> None:
        self.app = app
        self.presenter = presenter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        if method == "GET" and self.presenter.lan and "token=" in query:
            await self._exchange(scope, query)(scope, receive, send)
            return
        if method not in SAFE_METHODS:
            if not same_origin(scope):
                await PlainTextResponse(
                    "control requests must come from this site", status_code=403
                )(scope, receive, send)
                return
            on_token = method == "POST" and TOKEN_ROUTE.match(scope["path"]) is not None
            if not on_token and not self.presenter.is_presenter(_header(scope, b"cookie")):
                await PlainTextResponse(
                    "only the presenter can change runs here: open the presenter's address"
                    " (printed when the server started) once in this browser",
                    status_code=403,
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _exchange(self, scope: Scope, query: str) -> PlainTextResponse | RedirectResponse:
        pairs = parse_qsl(query, keep_blank_values=True)
        token = dict(pairs).get("token", "")
        if not hmac.compare_digest(token, self.presenter.token):
            return PlainTextResponse("that presenter token is not this server's", status_code=403)
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        target = scope["path"] + (f"?{rest}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.headers["set-cookie"] = self.presenter.cookie()
        return response


def presenting(request: Request) -> bool:
    """Whether `request` is the presenter's (everyone's is, without --lan)."""
    presenter = getattr(request.app.state, "presenter", None)
    return presenter is None or bool(presenter.is_presenter(request.headers.get("cookie", "")))


def audience_url(settings: Settings) -> str:
    return addresses.base_url(settings.host, settings.port) + "/watch"
