"""The FastAPI application: lifespan, routes, static files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app import broker
from app.programs import rundirs
from app.recording import Recorder, default_path
from app.registry import RunRegistry
from app.settings import Settings
from app.web import (
    api,
    downloads,
    errors,
    joins,
    language,
    pages,
    programs,
    replays,
    security,
    streams,
    watch,
)
from app.web.frames import Frames
from app.web.language import LanguageMiddleware
from app.web.presenter import Presenter, PresenterGate
from app.web.render import STATIC_DIR, render_frame


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(rundirs.sweep)
        await asyncio.to_thread(broker.sweep)
        await asyncio.to_thread(broker.configure, settings.redis_url or None, lan=settings.lan)
        recorder = Recorder(Path(settings.db) if settings.db else default_path())
        registry = RunRegistry(settings, recorder)
        app.state.registry = registry
        app.state.frames = Frames(settings.fps, render_frame)
        app.state.recorder = recorder
        try:
            yield
        finally:
            await registry.stop_all()
            await asyncio.to_thread(broker.shutdown)
            await asyncio.to_thread(recorder.close)

    app = FastAPI(title="concviz", lifespan=lifespan)
    app.state.settings = settings
    errors.install(app)
    presenter = Presenter(settings.lan)
    app.state.presenter = presenter
    app.state.joins = joins.Joins()
    app.add_middleware(PresenterGate, presenter=presenter)
    app.add_middleware(LanguageMiddleware)
    security.install(app, settings.host, settings.allowed_hosts)
    app.include_router(api.router)
    app.include_router(streams.router)
    app.include_router(programs.router)  # before pages: /experiments/program is its page
    app.include_router(pages.router)
    app.include_router(replays.router)
    app.include_router(downloads.router)
    app.include_router(watch.router)
    app.include_router(language.router)
    app.include_router(joins.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
