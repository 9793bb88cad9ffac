"""The MonitorError hierarchy: expected failures, each naming the thing, the phase and a fix."""

from __future__ import annotations


class MonitorError(Exception):
    """An expected failure: shown to the user as one line, never as a traceback."""


class ConfigError(MonitorError):
    """Invalid configuration; carries every problem found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class FeedError(MonitorError):
    """A feed could not be fetched or parsed. str() names the feed, the phase and the cause."""

    def __init__(self, url: str, message: str, *, status: int | None = None, reason: str = "error",
                 retry_after: float | None = None):
        self.url = url
        self.message = message
        self.status = status
        self.reason = reason  # short stable key for metrics: timeout, dns, http_404, too_large, ...
        self.retry_after = retry_after
        super().__init__(f"{url}: {message}")

    def __reduce__(self) -> tuple:  # picklable, attributes and all: parsing may run in a process pool
        return _rebuild, (type(self), self.__dict__)


def _rebuild(cls: type[FeedError], state: dict) -> FeedError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, f"{state['url']}: {state['message']}")
    exc.__dict__.update(state)
    return exc


class NotifyError(MonitorError):
    """A notification target refused or failed; names the target in privacy form."""


class StoreError(MonitorError):
    """The store cannot be opened or written (permissions, a full disk, a lock held too long).

    str() names the file, what failed and what to do; nothing already stored is lost."""
