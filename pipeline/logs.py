"""structlog configuration: one stream for our logs and the stdlib loggers of luigi, dbt and soda.

Configure once at an entry point with :func:`configure`; modules only call
``structlog.get_logger()``. JSON lines when stderr is not a TTY, console otherwise.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

_configured = False

SHARED_PROCESSORS: list = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Exceptions that are an outcome the pipeline expects and records (a rejected file, a withheld
#: batch, a file still being copied), not a bug: Luigi's "Worker failed" line becomes a warning.
_EXPECTED = ("FileRejected", "QualityGateFailed", "FileChanged")


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


class LuigiFailureFilter(logging.Filter):
    """Luigi's own logger prints the full traceback of every failed task; make it one line.

    The record keeps its traceback for the JSON log (rendered by ``dict_tracebacks``); on a
    terminal it is dropped. An expected reject (a file that cannot be used, a batch the gate
    withheld) is logged at WARNING, not ERROR: the ledger and ``failed/`` already record it.
    """

    def __init__(self, *, keep_traceback: bool) -> None:
        super().__init__()
        self.keep_traceback = keep_traceback

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) or not record.exc_info or record.exc_info[1] is None:
            return True  # structlog's own events already went through the exception processors
        exc = record.exc_info[1]
        expected = type(exc).__name__ in _EXPECTED
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a malformed record: leave it alone
            return True
        record.msg, record.args = f"{message.strip()}: {_first_line(exc)}", None
        if expected:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        if expected or not self.keep_traceback:
            record.exc_info, record.exc_text = None, None
        return True


def _one_line_exception(_logger, _name, event_dict: dict) -> dict:
    """Console: an exception as one ``error`` field, never a traceback."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info if isinstance(exc_info, BaseException) else None
        if exc is not None:
            event_dict.setdefault("error", _first_line(exc))
    return event_dict


def configure(level: str = "INFO", *, json: bool | None = None, luigi_level: str = "WARNING") -> None:
    """Route structlog and stdlib logging through one processor chain.

    JSON lines render exceptions as structured dicts (``dict_tracebacks``); the console renders
    them as one line (a user reads a sentence; the traceback is in the JSON log).
    """
    global _configured
    level = str(level).upper()
    if level not in LEVELS:
        from pipeline.errors import ConfigError

        raise ConfigError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    if json is None:
        json = not sys.stderr.isatty()
    if json:
        # structlog's dict_tracebacks without the frames' local variables: they can hold row values.
        exceptions = [
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        ]
        renderer = structlog.processors.JSONRenderer(default=str)
    else:
        exceptions = [_one_line_exception]
        renderer = structlog.dev.ConsoleRenderer(colors=True)
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            *exceptions,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED_PROCESSORS, *exceptions],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(LuigiFailureFilter(keep_traceback=json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party loggers: keep their records, drop their own handlers so they go through ours.
    for name, lvl in {
        "luigi": "INFO",
        "luigi-interface": luigi_level,
        "dbt": "WARNING",
        "soda": "WARNING",
        "soda.scan": "WARNING",
        "urllib3": "WARNING",
        "matplotlib": "WARNING",
        "tornado": "WARNING",
    }.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
        lg.setLevel(lvl)
    _configured = True


def is_configured() -> bool:
    """Whether an entry point configured logging in this process."""
    return _configured


@contextmanager
def stage(name: str, **fields) -> Iterator[dict]:
    """Emit one canonical summary line per stage with its counts and duration.

    The caller fills the yielded dict with counts; failures are logged with the error and re-raised.
    """
    log = structlog.get_logger()
    summary: dict = {}
    started = time.perf_counter()
    try:
        yield summary
    except Exception as exc:
        log.error(
            f"{name}.failed",
            duration_s=round(time.perf_counter() - started, 3),
            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            **fields,
            **summary,
        )
        raise
    log.info(f"{name}.done", duration_s=round(time.perf_counter() - started, 3), **fields, **summary)
