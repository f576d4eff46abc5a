"""The real worker (``python -m pipeline … watch``) with a ``kill -9`` at one exact point.

Random kills rarely land in the few milliseconds between a commit and the step that
follows it, so the drills also kill the worker there on purpose::

    DRILL_CRASH=<window> python tests/drill_worker.py --log-json watch …

The process sends itself SIGKILL at the first time it reaches the window (nothing is
mocked: the stage code, DuckDB and the files are the real ones).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline.cli import main  # noqa: E402
from pipeline.stages import publish  # noqa: E402
from pipeline.store import landing, ledger  # noqa: E402

#: Window name → what the worker has just done when it dies.
WINDOWS = {
    "ingest_committed": "committed the ingest transaction, not yet moved the file to the archive",
    "publish_committed": "committed the publish to raw, not yet written the quality_gate marker",
    "export_marker_written": "written the export marker, not yet recorded the batch as done",
}


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(window: str) -> None:
    """Wrap the function that starts (or ends) the window so the process dies there."""
    if window == "ingest_committed":

        def _archive(settings, path, record):
            _die()

        landing.archive = _archive
    elif window == "publish_committed":
        publish_batch = publish.publish

        def _publish(settings, batch_id, dataset):
            publish_batch(settings, batch_id, dataset)
            _die()

        publish.publish = _publish
    elif window == "export_marker_written":

        def _done(con, batch_id):
            _die()

        ledger.done = _done
    else:
        raise SystemExit(f"unknown DRILL_CRASH window {window!r}; one of {sorted(WINDOWS)}")


if __name__ == "__main__":
    install(os.environ["DRILL_CRASH"])
    sys.exit(main(sys.argv[1:]))
