"""Structured JSON logs with the correlation id of the request or event being handled.

Log ids, never personal data: no names, emails, addresses or situations in a message.
"""
import json
import logging
import threading

from nameko.extensions import DependencyProvider

_context = threading.local()  # green-local under eventlet's monkey patching


def current_correlation_id():
    return getattr(_context, "correlation_id", None)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": current_correlation_id(),
            "service": getattr(_context, "service", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class LogContext(DependencyProvider):
    """Puts the worker's correlation id where the log formatter finds it."""

    def worker_setup(self, worker_ctx):
        _context.correlation_id = worker_ctx.context_data.get("correlation_id") or worker_ctx.call_id
        _context.service = self.container.service_name

    def worker_teardown(self, worker_ctx):
        _context.correlation_id = None
