"""Request context for log lines: the request id, route and user of the request being served.

``web`` binds them when a request starts; :class:`ContextFilter` copies them onto every log record
the request causes (domain and data-access lines included), and the JSON formatter writes them out.
A context variable keeps concurrent requests apart under ``chalice local``'s threads.
"""
import contextvars
import logging
from typing import Any

FIELDS = ("request_id", "route", "user")
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("request_context", default={})


def bind(**fields: Any) -> None:
    """Add fields to the current request's context (None values are ignored)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def clear() -> None:
    _context.set({})


def current() -> dict:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Puts the request context on each record (``record.request_id`` …), without overwriting."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
