"""Bad input and attacks over HTTP: the API fuzzed from its own OpenAPI
schema, markup in program-made and user-chosen labels, the security policy
on every page, foreign Host headers and other sites' control requests."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from conftest import LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markup import ESCAPED, XSS, marked_run
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.live

# Streams never end while their run goes on: not for a fuzzer.
STREAMS = r"/(events|stream|timeline|play)$"
BUILT = [slug for slug, e in EXPERIMENTS.items() if e.built]


# FastAPI answers a JSON body it cannot even decode (not UTF-8) with this
# 400 of its own, outside the app's one place for errors (see
# test_a_body_that_is_not_utf8_gets_422_naming_the_body).
UNDECODABLE = {"detail": "There was an error parsing the body"}


def field_named_on_422(ctx: Any, response: Any, case: Any) -> bool | None:
    """A refused body or parameter is answered 422 with the field named."""
    if response.status_code == 400 and response.json() == UNDECODABLE:
        return None
    assert response.status_code != 400, response.text
    if response.status_code != 422:
        return None
    body = response.json()
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert errors, body
    for error in errors:
        assert error["field"], body  # the key, for API clients
        assert error["message"], body
        # The detail names the field: in the error's words (by its label, as
        # the form does), or by its key.
        key = error["field"].split(".")[0]
        assert error["message"] in body["detail"] or key in body["detail"], body
    return True


def api_schema() -> Any:
    """The schema the app publishes at /openapi.json (the live server's
    routes are the same), made without a server. (schemathesis' own
    `parametrize` gives all of its tests one id, which pytest-xdist runs
    once; `from_fixture` does not run under pytest 9.)"""
    from app.web.app import create_app

    schema = schemathesis.openapi.from_dict(create_app().openapi())
    return schema.exclude(path_regex=STREAMS)


OPERATIONS = [result.ok() for result in api_schema().get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_fuzzed_requests_never_get_a_server_error(operation: Any, own_server: LiveServer) -> None:
    """Valid requests and invalid ones, of every operation but streams."""
    cases = st.one_of(operation.as_strategy(mode) for mode in GenerationMode)

    @given(case=cases)
    @settings(
        max_examples=12,
        deadline=3000,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=own_server.url, checks=[not_a_server_error, field_named_on_422]
        )

    check()


@pytest.mark.parametrize(
    ("path", "body", "field", "named"),
    [
        ("/api/runs", {"experiment": ["x"]}, "experiment", "experiment"),
        ("/api/runs", {"experiment": "producer-consumer", "params": "no"}, "params", "params"),
        ("/api/runs", {"experiment": "producer-consumer", "extra": 1}, "extra", "extra"),
        ("/api/runs", {"experiment": "x" * 65}, "experiment", "experiment"),
        ("/api/runs", {"experiment": "lock", "params": {"threads": 51}}, "threads", "Workers"),
        (
            "/api/runs",
            {"experiment": "ipc", "params": {"payload_bytes": 1}},
            "payload_bytes",
            "Message size (bytes)",
        ),
        ("/api/runs", {"experiment": "queue", "params": {"speed": "x"}}, "speed", "Script speed"),
    ],
)
def test_invalid_bodies_get_422_naming_the_field(
    own_client: httpx.Client, path: str, body: Any, field: str, named: str
) -> None:
    """The key of the field for API clients, and its name on the form (its
    label, for an experiment's parameter) in the message."""
    r = own_client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"].split(".")[0] == field for e in r.json()["errors"]), r.text
    assert named in r.json()["detail"]


def test_a_body_that_is_not_utf8_gets_422_naming_the_body(own_client: httpx.Client) -> None:
    r = own_client.post(
        "/api/runs", content=b"\xc1\x98\xb2", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"


# Markup in labels: escaped in every HTML page and frame.


def assert_escaped(text: str, where: str, *, shown: bool = True) -> None:
    assert "<img" not in text, f"{where} carries raw markup"
    if shown:
        assert ESCAPED in text or "&lt;img" in text, f"{where} does not show the label"


def first_message(own_client: httpx.Client, path: str) -> str:
    with own_client.stream("GET", path) as r:
        assert r.status_code == 200, path
        data = []
        for line in r.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:])
            elif line == "" and data:
                return "\n".join(data)
    return ""


@pytest.fixture(scope="module")
def marked(own_server: LiveServer) -> dict[str, Any]:
    with httpx.Client(base_url=own_server.url, timeout=20) as c:
        return marked_run(c)


def test_program_made_labels_are_escaped_in_every_page_and_frame(
    own_client: httpx.Client, marked: dict[str, Any]
) -> None:
    rid = marked["id"]
    item = quote(f"{XSS}#1", safe="")
    pages = {
        "replay page": f"/runs/{rid}",
        "replay frame": f"/runs/{rid}/frame?at=3",
        "replay frame, end": f"/runs/{rid}/frame?at=1000000",
        "item journey": f"/runs/{rid}/items/{item}",
        "audience page": "/watch",
        "recorded runs": "/runs",
    }
    for where, path in pages.items():
        r = own_client.get(path)
        assert r.status_code == 200, (where, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert_escaped(r.text, where, shown=where not in ("recorded runs", "item journey"))
    frames = {
        "live frame": f"/runs/{rid}/stream",
        "timeline": f"/runs/{rid}/timeline",
        "replay playing": f"/runs/{rid}/play?at={marked['events'] - 1}",
        "audience stream": "/watch/stream",
    }
    for where, path in frames.items():
        assert_escaped(first_message(own_client, path), where, shown=where != "audience stream")


def test_a_user_chosen_recording_name_is_escaped_everywhere(own_client: httpx.Client) -> None:
    rid = marked_run(own_client)["id"]
    r = own_client.patch(f"/api/recordings/{rid}", json={"name": XSS})
    assert r.status_code == 200
    assert r.json()["name"] == XSS  # stored as given: escaping is the page's job
    assert r.headers["content-type"] == "application/json"
    for where, path in {"recorded runs": "/runs", "replay page": f"/runs/{rid}"}.items():
        assert_escaped(own_client.get(path).text, where)
    title = re.search(r"<title>(.*?)</title>", own_client.get(f"/runs/{rid}").text, re.S)
    assert title is not None
    assert ESCAPED in title.group(1)


def test_a_rename_shows_on_a_replay_page_opened_before(own_client: httpx.Client) -> None:
    rid = marked_run(own_client)["id"]
    assert own_client.get(f"/runs/{rid}").status_code == 200
    own_client.patch(f"/api/recordings/{rid}", json={"name": "renamed"})
    assert "renamed" in own_client.get(f"/runs/{rid}").text


@pytest.mark.parametrize("slug", BUILT)
def test_every_form_post_escapes_what_it_echoes(own_client: httpx.Client, slug: str) -> None:
    exp = EXPERIMENTS[slug]
    assert exp.params is not None
    everything = dict.fromkeys(exp.params.model_fields, XSS)
    posts = {
        "start": {**everything, XSS: XSS},
        "live": {"run_id": XSS, "field": XSS, XSS: XSS},
        "stop": {"run_id": XSS},
        "calls": {"run_id": XSS, "op": XSS, "value": XSS},
        "pause": {"run_id": XSS},
        "permit": {"run_id": XSS, "worker": XSS},
        XSS: {"run_id": XSS},
    }
    for action, data in posts.items():
        r = own_client.post(f"/experiments/{slug}/{quote(action, safe='')}", data=data)
        assert r.status_code >= 400, (action, r.status_code, r.text[:200])
        assert "<img" not in r.text, (action, r.text[:300])


# The policy, the Host header and the origin of control requests.


def assert_strict_policy(csp: str, where: str) -> None:
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == "default-src 'self'", where
    assert directives["object-src"] == "object-src 'none'", where
    assert directives["frame-ancestors"] == "frame-ancestors 'none'", where
    script = directives.get("script-src", directives["default-src"])
    assert "unsafe-inline" not in script, where
    assert "unsafe-eval" not in script, where
    assert "unsafe-inline" not in directives.get("style-src", ""), where


def test_every_page_carries_the_strict_policy(
    own_client: httpx.Client, marked: dict[str, Any]
) -> None:
    rid = marked["id"]
    paths = [
        "/",
        "/runs",
        "/watch",
        f"/runs/{rid}",
        f"/runs/{rid}/frame",
        f"/runs/{rid}/player",
        "/static/app.js",
        "/qr.svg",
        "/healthz",
        "/api/experiments",
        "/nope",  # a 404 too
        *(f"/experiments/{slug}" for slug in BUILT),
    ]
    for path in paths:
        r = own_client.get(path)
        assert_strict_policy(r.headers.get("content-security-policy", ""), path)
        assert r.headers["x-content-type-options"] == "nosniff"
    for path in (f"/runs/{rid}/stream", f"/api/runs/{rid}/events"):
        with own_client.stream("GET", path) as r:
            assert_strict_policy(r.headers["content-security-policy"], path)


def routes(api: Any) -> list[tuple[str, str]]:
    out = []
    for path, ops in api["paths"].items():
        for method in ops:
            out.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return out


def test_a_foreign_host_gets_400_on_every_route(own_client: httpx.Client) -> None:
    for method, path in routes(own_client.get("/openapi.json").json()):
        r = own_client.request(method, path, headers={"host": "evil.example"})
        assert r.status_code == 400, (method, path, r.status_code)


def test_control_requests_from_another_site_get_403_on_every_route(
    own_client: httpx.Client,
) -> None:
    control = [
        (m, p)
        for m, p in routes(own_client.get("/openapi.json").json())
        if m not in ("GET", "HEAD")
    ]
    assert len(control) > 15
    runs_before = len(own_client.get("/api/runs").json())
    for method, path in control:
        for header in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
            r = own_client.request(method, path, headers=header, json={})
            assert r.status_code == 403, (method, path, header, r.status_code)
    assert len(own_client.get("/api/runs").json()) == runs_before
