# concviz in a container: the same app as `concviz` on a laptop.
#
#   docker build -t concviz . && docker run --rm -p 8000:8000 concviz
#
# then open http://localhost:8000/. Settings come from CONCVIZ_* variables
# (e.g. `docker run -e CONCVIZ_MAX_WORKERS=32 ...`), see the README; host and
# port are fixed by CMD below, and the health check expects port 8000.

# Stage 1: the wheel, built as `pip wheel .` builds it anywhere (setuptools
# and babel come in as build requirements; babel compiles the catalogues).
FROM python:3.11-slim AS wheel

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . /src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: the wheel installed, as a teacher installs it; no source tree.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini as PID 1 reaps orphans: a program's child processes outlive their
# main for a moment when it is killed, and are then re-parented to PID 1.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user to run the server and its worker processes.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin concviz

# The app, its templates, static files and compiled catalogues all live in
# site-packages (app/web/render.py finds them inside the package); the fork
# server imports the worker modules from there too.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/concviz-*.whl \
    && rm -rf /tmp/wheels

USER concviz
# Its home holds the recordings (~/.local/share/concviz/runs.sqlite3).
WORKDIR /home/concviz

EXPOSE 8000

# No curl in the slim image: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# tini passes docker stop's SIGTERM on to the server, which stops every run
# (workers included) and exits within its shutdown grace.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["concviz", "--host", "0.0.0.0", "--port", "8000"]
