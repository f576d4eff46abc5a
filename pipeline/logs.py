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


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Route structlog and stdlib logging through one processor chain."""
    global _configured
    if json is None:
        json = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=True)
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party loggers: keep their records, drop their own handlers so they go through ours.
    for name, lvl in {
        "luigi": "INFO",
        "luigi-interface": "WARNING",
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
