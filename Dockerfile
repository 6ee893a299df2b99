FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY app/ ./app/
COPY migrations/ ./migrations/

RUN pip install --no-cache-dir . \
    && useradd --system --create-home --home-dir /home/stemlab --shell /usr/sbin/nologin stemlab \
    && mkdir -p /app/var \
    && chown stemlab:stemlab /app/var

USER stemlab

ENV STEMLAB_HOST=0.0.0.0 \
    STEMLAB_PORT=8000

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `stemlab serve`, spelled as the test suite starts it (tests/server.py, SERVE_COMMAND):
# apply the migrations, then serve.
CMD ["python", "-m", "app.cli", "serve"]
