# syntax=docker/dockerfile:1
# One image for the three services; the compose command picks which one runs:
#   docker run IMAGE order-service --host 0.0.0.0 --port 8001
# Checked by tests/integration/deploy/test_compose.py (and hadolint); see README,
# "Production: Docker Compose".

# Both stages must use the same Python: the venv's interpreter is a link to it.
ARG PYTHON_IMAGE=python:3.13-slim

FROM ${PYTHON_IMAGE} AS build
# The uv the Makefile bootstraps (UV_VERSION), so uv.lock is read by the uv that wrote it.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# Dependencies first, in a layer that changes only with uv.lock. Production talks to real
# Kafka, MongoDB and Redis, so neither the dev group nor the `embedded` extra is installed.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, as a regular (not editable) install: src/ stays in this stage.
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable


FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app
WORKDIR /app
# Root-owned and read-only for the service user: the code cannot be changed at run time.
COPY --from=build /app/.venv /app/.venv
USER 10001:10001
EXPOSE 8001 8002 8003
ENTRYPOINT ["order-platform"]
CMD ["--help"]
