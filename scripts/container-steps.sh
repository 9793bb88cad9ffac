#!/usr/bin/env bash
# Replays the Dockerfile's steps without a Docker engine: the same pip install line into a
# fresh virtualenv, then the image's HEALTHCHECK-style command and the shipped config check.
# CI runs this; keep it in step with the Dockerfile (tests/test_docs.py compares them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
python3 -m venv "$root/venv"
PATH="$root/venv/bin:$PATH"
# --- the Dockerfile's install step ---
pip install --no-cache-dir -q .
# --- what the image runs ---
(cd "$root" && cp -r "$OLDPWD/config" . && monitor validate --config config --state state)
# the installed package carries its templates, static files and demo feeds
(cd "$root" && monitor demo --exit --pace 0 --state demo-state > demo.log && grep -q "alert" demo.log)
echo "container steps: ok"
