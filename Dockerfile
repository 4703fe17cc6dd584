# syntax=docker/dockerfile:1

# Builder: resolve and install the pinned requirements into a self-contained venv, so that pip, build
# dependencies and caches stay out of the runtime image.
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt


# Runtime: the venv and only the files that run. psycopg2-binary bundles libpq, so no apt packages are needed.
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    FLASK_APP=wsgi \
    APP_ENV=production

RUN useradd --no-log-init --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin appuser

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Owned by root and only readable by appuser: a compromised process cannot rewrite the code it runs.
COPY bookapi/ bookapi/
COPY migrations/ migrations/
COPY wsgi.py gunicorn.conf.py ./
COPY docker/boot.sh docker/boot.sh

# The commit the image is built from, for bookapi_build_info (`--build-arg GIT_REVISION=$(git rev-parse HEAD)`);
# declared late, so that a new revision rebuilds no layer above.
ARG GIT_REVISION=unknown
ENV GIT_REVISION=$GIT_REVISION

# appuser, by number: runtimes (Kubernetes runAsNonRoot) can then verify it is not root without reading /etc/passwd.
USER 1000:1000
# 8000 serves the API; 9464 the metrics (METRICS_PORT), to be kept off any public network.
EXPOSE 8000 9464

# Liveness only (/health touches no dependency); standard library only, as the slim image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["/app/docker/boot.sh"]
