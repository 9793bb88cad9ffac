"""Logging setup: logfmt-style lines to stdout (or JSON lines), with secrets redacted.

Every resolved secret (values substituted from ${ENV_VARS}, MONITOR_NOTIFY_URLS) is replaced by
`****` in every record, whatever logger emitted it, so a token never reaches a log shipper.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a URL containing a token is masked whole before its token.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname.lower(),
               "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


REDACTOR = Redactor()


def setup(verbose: int = 0, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    level = logging.WARNING if verbose < 0 else logging.INFO if verbose < 2 else logging.DEBUG
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(REDACTOR)
    REDACTOR.update(secrets)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # apscheduler: a line per job added and run (29 at a start with 11 feeds); the service logs
    # its own "service started" and one line per poll instead. -vv shows them again.
    for noisy in ("aiohttp", "apscheduler", "apprise"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level > logging.DEBUG else logging.INFO)
