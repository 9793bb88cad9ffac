# Story Monitor container: `docker build -t story-monitor .` then
#   docker run -d -v monitor-state:/app/state -e SLACK_WEBHOOK_URL=... story-monitor
# No Docker engine runs in our CI: scripts/container-steps.sh replays these steps and CI runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MONITOR_CONFIG=/app/config MONITOR_STATE=/app/state
WORKDIR /app

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir .

COPY config ./config
RUN useradd --system --uid 10001 --home-dir /app monitor \
    && mkdir -p /app/state && chown monitor /app/state
USER monitor

# Mount your own config over /app/config; state (SQLite) lives in the volume.
VOLUME ["/app/state"]
EXPOSE 8080

HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["monitor", "health"]

CMD ["monitor", "run"]
