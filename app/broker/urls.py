"""A Redis server's URL: whether concviz can use it, how it is shown (never
with its password), and the same server with another database."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

SCHEMES = ("redis", "rediss", "unix")


def problem(url: str) -> str | None:
    """Why `url` is no Redis URL concviz can use, in words that complete
    "--redis ..." (None: it is one)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # it raises on a port that is no number
    except ValueError as exc:
        return f"is no URL ({exc})"
    got = f"(got {shown(url)!r})"
    if parts.scheme not in SCHEMES:
        return f"must be a redis://HOST:PORT, rediss://HOST:PORT or unix:///PATH URL {got}"
    if parts.scheme == "unix":
        return None if parts.path else f"needs the socket's path, unix:///PATH {got}"
    return None if parts.hostname else f"needs a host, {parts.scheme}://HOST:PORT {got}"


def shown(url: str) -> str:
    """`url` without its password (in the user part or the query)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        netloc = (f"{user}@" if user else "") + netloc.rsplit("@", 1)[1]
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "password"]
    return _join(parts._replace(netloc=netloc, query=urlencode(query)))


def with_db(url: str, db: int) -> str:
    """The same server as `url`, database `db`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
    if parts.scheme == "unix":
        return _join(parts._replace(query=urlencode([*query, ("db", str(db))])))
    return _join(parts._replace(path=f"/{db}", query=urlencode(query)))


def password(url: str) -> str | None:
    """The password `url` carries (in its user part or its query), or None."""
    parts = urlsplit(url)
    if parts.password is not None:
        return parts.password
    return dict(parse_qsl(parts.query)).get("password")


def with_user(url: str, user: str, secret: str) -> str:
    """The same server and database as `url`, as `user` with `secret`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("password", "username")]
    if parts.scheme == "unix":
        query += [("username", user), ("password", secret)]
        return _join(parts._replace(query=urlencode(query)))
    host = parts.netloc.rsplit("@", 1)[-1]
    return _join(parts._replace(netloc=f"{user}:{secret}@{host}", query=urlencode(query)))


def _join(parts: SplitResult) -> str:
    """`urlunsplit`, keeping the "//" of a unix URL without a host."""
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}"
