"""Background loops of a service (the outbox relay, the mail sender): one step after another until
the service stops.

A step that fails is logged and tried again with backoff (0.5 s doubling to 10 s) instead of ending
the loop: a managed thread that dies makes nameko kill the whole service, and what the step had to
do waits safely where it is (outbox rows, queued emails). Only the error's type is logged: a
database error's text can quote the row it was writing.
"""
import logging

log = logging.getLogger(__name__)


def run_until_stopped(name, step, stopping, wake, idle_interval, is_full, expected=()):
    """Call `step()` until `stopping` is set. While `is_full(result)` is false (the step found less
    than a full batch), wait `idle_interval` seconds or until `wake` is set. `expected`: error types
    logged as a warning (the database or broker away); anything else is logged with its traceback."""
    delay = 0.0
    while not stopping.is_set():
        try:
            result = step()
            delay = 0.0
        except Exception as error:  # noqa: BLE001 - see the module docstring
            delay = min(max(delay * 2, 0.5), 10.0)
            if isinstance(error, expected):
                log.warning("%s: %s; retrying in %.1fs", name, type(error).__name__, delay)
            else:
                log.exception("%s: unexpected %s; retrying in %.1fs", name, type(error).__name__, delay)
            stopping.wait(delay)
            continue
        if not is_full(result):
            wake.wait(idle_interval)
            wake.clear()
