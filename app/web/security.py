"""Headers every answer carries, and which Host names the server answers to.

The policy allows only this server's own scripts and styles: no inline
script or style, no eval, no plugins, no framing. A Host header other than
the names the server is known by gets 400, so that a page on another site
cannot reach this server through DNS rebinding.
"""

from __future__ import annotations

import contextlib
import socket

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web import addresses

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def allowed_hosts(bind_host: str, extra: str = "") -> list[str]:
    """The Host names to answer: the loopback names, the bound address, and,
    when bound to every interface, this machine's name and addresses."""
    names = {*LOCAL_NAMES, bind_host}
    if bind_host in ("0.0.0.0", "::"):
        hostname = socket.gethostname()
        names.add(hostname)
        with contextlib.suppress(OSError):
            names.update(str(info[4][0]) for info in socket.getaddrinfo(hostname, None))
        names.update(addresses.own_ipv4())  # what its interfaces have (the name may say 127.0.1.1)
    names.update(h.strip() for h in extra.split(",") if h.strip())
    return sorted(names)


class SecurityHeaders:
    """Pure ASGI (a BaseHTTPMiddleware would break streaming responses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: ASGIApp, bind_host: str, extra_hosts: str = "") -> None:
    # The last added is the outermost: the headers go on the 400 for a
    # foreign Host too.
    app.add_middleware(  # type: ignore[attr-defined]
        TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind_host, extra_hosts)
    )
    app.add_middleware(SecurityHeaders)  # type: ignore[attr-defined]
