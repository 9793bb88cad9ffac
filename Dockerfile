# Story Monitor container: `docker build -t story-monitor .` then
#   docker run -d -v monitor-state:/app/state -e SLACK_WEBHOOK_URL=... story-monitor
# (the shipped config's Slack target is on once SLACK_WEBHOOK_URL is set; more targets from
# MONITOR_NOTIFY_URLS). The dashboard, when wanted, on the host's loopback:
#   docker run -d -v monitor-state:/app/state -e SLACK_WEBHOOK_URL=... \
#     -e MONITOR_WEB=0.0.0.0:8080 -p 127.0.0.1:8080:8080 story-monitor
# Your own config and secrets: compose.yaml (`docker compose up -d`).
# No Docker engine runs in our CI: scripts/container-steps.sh replays these steps and CI runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MONITOR_CONFIG=/app/config MONITOR_STATE=/app/state
WORKDIR /app

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir .
# compose.postgres.yaml builds with EXTRAS=postgres: the PostgreSQL driver and its pool too.
ARG EXTRAS=""
RUN if [ -n "$EXTRAS" ]; then pip install --no-cache-dir ".[$EXTRAS]"; fi

RUN useradd --system --uid 10001 --home-dir /app monitor \
    && mkdir -p /app/state && chown monitor /app/state
# Owned by the service user: `monitor feeds add` in the container can edit it.
COPY --chown=monitor config ./config
USER monitor

# Mount your own config over /app/config; state (SQLite) lives in the volume.
VOLUME ["/app/state"]
# The dashboard listens only when MONITOR_WEB (or [web] listen) is set: 0.0.0.0:8080 in here.
EXPOSE 8080

HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["monitor", "health"]

CMD ["monitor", "run"]
