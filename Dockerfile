# concviz in a container: the same app as `concviz` on a laptop.
#
#   docker build -t concviz . && docker run --rm -p 8000:8000 concviz
#
# then open http://localhost:8000/. Settings come from CONCVIZ_* variables
# (e.g. `docker run -e CONCVIZ_MAX_WORKERS=32 ...`), see the README; host and
# port are fixed by CMD below, and the health check expects port 8000.
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

# The project stays where it is and is installed in editable mode: the app
# finds templates/ and static/ next to the `app` package (app/web/render.py),
# and the fork server imports the worker modules from the working directory.
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . \
    && python -m compileall -q app

USER concviz

EXPOSE 8000

# No curl in the slim image: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# tini passes docker stop's SIGTERM on to the server, which stops every run
# (workers included) and exits within its shutdown grace.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["concviz", "--host", "0.0.0.0", "--port", "8000"]
