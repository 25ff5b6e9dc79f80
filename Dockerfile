# syntax=docker/dockerfile:1
# Build stage: install Infoview and its pinned dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install -c requirements.lock .

# Runtime stage: the virtualenv, the migrations, and a non-root user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    INFOVIEW_ENV=production \
    INFOVIEW_VAR_DIR=/var/lib/infoview
# A fixed numeric uid/gid, so `USER` needs no lookup and volume ownership is predictable.
RUN groupadd --system --gid 10001 infoview \
    && useradd --system --uid 10001 --gid infoview --home-dir /var/lib/infoview --create-home infoview
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/infoview
COPY migrations ./migrations
COPY alembic.ini ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# Run `infoview migrate` as a separate one-shot step before starting the API.
CMD ["infoview", "serve", "--host", "0.0.0.0", "--port", "8000"]
