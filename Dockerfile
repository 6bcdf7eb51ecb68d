# newscorpus: the API in a container. Data (SQLite + search index) lives on the /data volume.
#   docker build -t newscorpus . && docker run -p 8000:8000 -v newscorpus-data:/data newscorpus
# Nothing is written outside /data (not even /tmp), so `docker run --read-only` works too.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# UV_SYSTEM_CERTS: trust the system CA store, as pip does (needed behind TLS-inspecting proxies).
ENV UV_PYTHON=python3 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 \
    UV_SYSTEM_CERTS=1 UV_PROJECT_ENVIRONMENT=/srv/newscorpus/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /srv/newscorpus
# Dependencies first, from the lock file, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-cache
COPY app ./app
# The project is built into a wheel and installed (not an editable checkout): it carries its
# migrations, and the image needs nothing but the environment. UV_COMPILE_BYTECODE compiles it
# here because the running container may not write bytecode.
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --no-cache

FROM ${BASE_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin \
        newscorpus \
    && mkdir -p /data && chown newscorpus /data
COPY --from=build /srv/newscorpus/.venv /srv/newscorpus/.venv
COPY seeds /srv/newscorpus/seeds
WORKDIR /srv/newscorpus
ENV PATH=/srv/newscorpus/.venv/bin:$PATH HOME=/data \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    NEWSCORPUS_DATA_DIR=/data NEWSCORPUS_HOST=0.0.0.0 NEWSCORPUS_PORT=8000
VOLUME /data
USER newscorpus
EXPOSE 8000
# start-period covers the first start, which ingests the seeds before serving.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Migrates, ingests the seeds when the database is empty, then serves.
CMD ["newscorpus", "serve", "--seed", "/srv/newscorpus/seeds"]
