#!/usr/bin/env bash
# Replays the Dockerfile's steps without a Docker engine: the same pip install line into a
# fresh virtualenv, then what the image runs (config check, the Dockerfile's own `docker run`
# example turning the Slack target on, the demo), and checks compose.yaml and .dockerignore.
# CI runs this; keep it in step with the Dockerfile (tests/test_docs.py compares them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "container steps: $*" >&2; exit 1; }

# --- the Dockerfile, as written, says what this script replays ---
grep -q '^RUN pip install --no-cache-dir \.$' Dockerfile || fail "Dockerfile: the install line changed; update this script"
grep -q '^COPY --chown=monitor config ./config$' Dockerfile || fail "Dockerfile: /app/config must be owned by the service user"
grep -q 'SLACK_WEBHOOK_URL=' Dockerfile || fail "Dockerfile: the docker run example is gone"
grep -q 'MONITOR_WEB=0.0.0.0:8080' Dockerfile || fail "Dockerfile: the dashboard example is gone"
for ignored in .env .git .venv state; do
    grep -qx "$ignored" .dockerignore || fail ".dockerignore: $ignored must be kept out of the image"
done

python3 -m venv "$root/venv"
PATH="$root/venv/bin:$PATH"
# --- the Dockerfile's install step ---
pip install --no-cache-dir -q .

# --- compose.yaml: parses, and has the volume, the mounted config and the secrets file ---
python3 - <<'PY' || fail "compose.yaml: see above"
import re, sys
text = open("compose.yaml").read()
try:
    import yaml
except ImportError:  # no YAML library here: check the lines instead
    needed = [r"^\s+- monitor-state:/app/state$", r"^\s+- \./config:/app/config", r"^\s+env_file: \.env", r"MONITOR_WEB: \"0\.0\.0\.0:8080\""]
    missing = [n for n in needed if not re.search(n, text, re.M)]
    sys.exit(f"missing: {missing}" if missing else 0)
svc = yaml.safe_load(text)["services"]["monitor"]
assert "monitor-state:/app/state" in svc["volumes"], svc["volumes"]
assert any(v.startswith("./config:/app/config") for v in svc["volumes"]), svc["volumes"]
assert svc["env_file"] == ".env" and svc["environment"]["MONITOR_WEB"] == "0.0.0.0:8080", svc
assert "monitor-state" in yaml.safe_load(text)["volumes"]
PY

# --- compose.postgres.yaml: parses; its image's extra, commands and variables exist ---
grep -q '^ARG EXTRAS=""$' Dockerfile || fail "Dockerfile: the EXTRAS build argument (compose.postgres.yaml) is gone"
python3 - <<'PY' || fail "compose.postgres.yaml: see above"
import re, sys, tomllib
text = open("compose.postgres.yaml").read()
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
env = open(".env.example").read()
missing = [v for v in set(re.findall(r"\$\{(\w+)", text)) if not re.search(rf"^#? ?{v}=", env, re.M)]
try:
    import yaml
except ImportError:  # no YAML library here: check the lines instead
    yaml = None
if yaml is not None:
    c = yaml.safe_load(text)
    svc = c["services"]
    assert {"db", "migrate", "worker-1", "worker-2"} <= set(svc), sorted(svc)
    assert svc["migrate"]["command"] == ["monitor", "db", "migrate"], svc["migrate"]
    assert svc["worker-1"]["build"]["args"]["EXTRAS"] in extras, extras
    assert "pg-data" in c["volumes"] and "healthcheck" in svc["db"]
elif not re.search(r"^\s+EXTRAS: (\w+)", text, re.M) or re.search(r"^\s+EXTRAS: (\w+)", text, re.M).group(1) not in extras:
    sys.exit("EXTRAS names no extra of pyproject.toml")
sys.exit(f"variables not in .env.example: {missing}" if missing else 0)
PY
pip install --no-cache-dir -q ".[postgres]"   # the Dockerfile's EXTRAS step, as compose.postgres.yaml builds it
python3 -c "import psycopg, psycopg_pool" || fail "the postgres extra does not bring psycopg and its pool"
monitor db migrate --help > /dev/null && monitor db copy --help > /dev/null || fail "compose.postgres.yaml's commands are gone"

# --- what the image runs ---
cp -r config "$root/config"
cd "$root"
env -u SLACK_WEBHOOK_URL -u MONITOR_NOTIFY_URLS monitor validate --config config --state state > validate.log 2>&1
grep -q "0 notification targets" validate.log && grep -q "SLACK_WEBHOOK_URL is not set" validate.log \
    || fail "without SLACK_WEBHOOK_URL, validate should say the Slack target is off: $(cat validate.log)"
SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX monitor validate --config config --state state > validate.log 2>&1
grep -q "1 notification targets" validate.log || fail "docker run -e SLACK_WEBHOOK_URL=... must turn a target on: $(cat validate.log)"
# the installed package carries its templates, static files and demo feeds
monitor demo --exit --pace 0 --state demo-state > demo.log && grep -q "alert" demo.log
echo "container steps: ok"
