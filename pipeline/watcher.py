"""The landing watcher: a long-running service that turns dropped files into batches.

Detection never relies on one mechanism alone:

* watchdog events (inotify: close-after-write, moved-in, created; or the polling
  observer for bind mounts and network shares, ``--polling``) mark a file as *seen*;
* a file is taken only once its size and mtime have not changed for ``settle_seconds``,
  so a copy in progress is never ingested half-way;
* a reconciliation scan of ``landing/`` every ``reconcile_seconds`` (and one at start-up)
  catches what events missed: inotify silently drops events when its queue overflows,
  and files that arrived while the service was down produce no event at all;
* at start-up, batches the ledger shows as unfinished (e.g. after ``kill -9``) are resumed.

Batches run one at a time, in arrival order, categories before chats when both wait.
When several files are waiting, each is ingested and audited first and the warehouse-wide
stages (dbt, redaction, export) run once for the group (see ``tasks.coalesced``).
SIGTERM / Ctrl-C stop the service after the stage that is running.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import luigi
import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline import db, ledger
from pipeline.runner import arrival_key, is_candidate
from pipeline.settings import Settings

log = structlog.get_logger()


@dataclass
class _Seen:
    first_seen: float
    size: int
    mtime_ns: int
    stable_since: float


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "Watcher") -> None:
        self.watcher = watcher

    def on_closed(self, event: FileSystemEvent) -> None:
        self.watcher.saw(Path(event.src_path), "closed")

    def on_created(self, event: FileSystemEvent) -> None:
        self.watcher.saw(Path(event.src_path), "created")

    def on_modified(self, event: FileSystemEvent) -> None:
        self.watcher.saw(Path(event.src_path), "modified")

    def on_moved(self, event: FileSystemEvent) -> None:
        self.watcher.saw(Path(event.dest_path), "moved_in")


class Watcher:
    """Watch ``settings.landing`` and run the chain for each settled file."""

    def __init__(self, settings: Settings, *, polling: bool = False, scheduler_url: str | None = None,
                 poll_interval: float = 0.25) -> None:
        self.settings = settings
        self.polling = polling
        self.scheduler_url = scheduler_url
        self.poll_interval = poll_interval
        self._seen: dict[Path, _Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failed: dict[Path, tuple[int, int]] = {}  # left in landing after an error: retried once changed
        self.processed: list[str] = []  # batch ids, in the order they finished (for tests/metrics)

    # ------------------------------------------------------------------ detection
    def saw(self, path: Path, how: str) -> None:
        if path.parent != self.settings.landing or not is_candidate(path):
            return
        with self._lock:
            if path not in self._seen:
                log.info("watch.file_seen", file=path.name, how=how)
                self._seen[path] = _Seen(time.monotonic(), -1, -1, time.monotonic())

    def reconcile(self) -> None:
        """Scan landing/ for files no event told us about."""
        if not self.settings.landing.is_dir():
            return
        for path in self.settings.landing.iterdir():
            self.saw(path, "scan")

    def settled(self) -> list[Path]:
        """Files whose size and mtime have been stable for the settle time, in processing order."""
        now = time.monotonic()
        ready = []
        with self._lock:
            for path, seen in list(self._seen.items()):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    del self._seen[path]
                    continue
                if self._failed.get(path) == (st.st_size, st.st_mtime_ns):
                    continue
                if (st.st_size, st.st_mtime_ns) != (seen.size, seen.mtime_ns):
                    seen.size, seen.mtime_ns, seen.stable_since = st.st_size, st.st_mtime_ns, now
                elif now - seen.stable_since >= self.settings.settle_seconds:
                    ready.append(path)
        return sorted(ready, key=lambda p: arrival_key(p, self.settings))

    # ------------------------------------------------------------------ processing
    def _build(self, tasks: list) -> bool:
        # The service owns SIGTERM/SIGINT (stop after the current stage); luigi's worker must not
        # install its own handler, which is also impossible outside the main thread.
        luigi.configuration.get_config().set("worker", "no_install_shutdown_handler", "true")
        kwargs = {"scheduler_url": self.scheduler_url} if self.scheduler_url else {"local_scheduler": True}
        return luigi.build(tasks, workers=1, detailed_summary=False, log_level="WARNING", **kwargs)

    def _common(self) -> dict[str, str]:
        return {"landing": str(self.settings.landing), "warehouse": str(self.settings.warehouse)}

    def process(self, paths: list[Path]) -> None:
        """Ingest + audit every waiting file, then finish the chain of each (dbt etc. coalesced)."""
        from pipeline.tasks import ProcessFile, QualityGate, resolve_batch

        batches: list[tuple[Path, str]] = []
        for path in paths:
            if self._stop.is_set():
                return
            structlog.contextvars.bind_contextvars(file=path.name)
            try:
                batch_id = resolve_batch(self.settings, path)
            except Exception as exc:  # unreadable file: leave it, say why, keep serving
                log.error("watch.unreadable", file=path.name, error=str(exc))
                self._set_aside(path)  # else it is settled again at once: a busy loop re-reading it
                continue
            log.info("watch.queued", file=path.name, batch_id=batch_id)
            started = time.perf_counter()
            self._build([QualityGate(batch_id=batch_id, path=str(path), **self._common())])
            with db.connect(self.settings) as con:
                record = ledger.get(con, batch_id)
            if record and record["status"] in ("failed", "rejected"):
                self._finished(path, batch_id, record, started)
                continue
            batches.append((path, batch_id))
            log.info("watch.audited", file=path.name, batch_id=batch_id,
                     duration_s=round(time.perf_counter() - started, 3))
        # Last batch first: its dbt build / export covers all the ones before it.
        for path, batch_id in reversed(batches):
            if self._stop.is_set():
                return
            structlog.contextvars.bind_contextvars(file=path.name, batch_id=batch_id)
            started = time.perf_counter()
            self._build([ProcessFile(path=str(path), batch_id=batch_id, **self._common())])
            with db.connect(self.settings) as con:
                record = ledger.get(con, batch_id)
            self._finished(path, batch_id, record, started)
        structlog.contextvars.clear_contextvars()

    def _set_aside(self, path: Path) -> None:
        """Stop tracking a handled file; one still in landing after an error is retried once it changes."""
        with self._lock:
            self._seen.pop(path, None)
            try:
                st = path.stat()
            except FileNotFoundError:
                return
            self._failed[path] = (st.st_size, st.st_mtime_ns)

    def _finished(self, path: Path, batch_id: str, record: dict | None, started: float,
                  name: str | None = None) -> None:
        self._set_aside(path)
        self.processed.append(batch_id)
        log.info("watch.batch_end", file=name or path.name, batch_id=batch_id,
                 status=record["status"] if record else "unknown",
                 rows_read=record and record["rows_read"], rows_loaded=record and record["rows_loaded"],
                 rows_quarantined=record and record["rows_quarantined"],
                 error=record and record["error"], duration_s=round(time.perf_counter() - started, 3))

    def resume_unfinished(self) -> None:
        """Finish batches a crash or an error left half-way (ingested, chain not done).

        Failed batches are resumed too: after a transient error (disk full, a lock held too
        long) the restart finishes them at the stage that failed. A batch that failed ingest
        or the quality gate is back at stage ``registered`` and is not resumed.
        """
        from pipeline.tasks import ExportAnalysis

        if not self.settings.warehouse_db.exists():
            return
        with db.connect(self.settings) as con:
            rows = con.execute(
                "select batch_id, seq, file from meta.batches where status in ('queued', 'running', 'failed') "
                "and stage <> 'registered' order by seq").fetchall()
        for batch_id, seq, file in rows:
            log.info("watch.resume", batch_id=batch_id, file=file)
            started = time.perf_counter()
            path = self._batch_file(batch_id, seq, file)
            self._build([ExportAnalysis(batch_id=batch_id, path=str(path), **self._common())])
            with db.connect(self.settings) as con:
                record = ledger.get(con, batch_id)
            self._finished(path, batch_id, record, started, name=file)

    def _batch_file(self, batch_id: str, seq: int, file: str) -> Path:
        """Where an ingested batch's file is: archived, or still in landing/ after a crash between
        the ingest commit and the move (the resumed Ingest stage then finishes the move)."""
        from pipeline.tasks import resolve_batch

        archived = self.settings.archive_dir / f"{seq:08d}_{batch_id}__{file}"
        landed = self.settings.landing / file
        if not archived.exists() and landed.exists() and resolve_batch(self.settings, landed) == batch_id:
            return landed
        return archived

    # ------------------------------------------------------------------ service
    def stop(self, *_args) -> None:
        if not self._stop.is_set():
            log.info("watch.stopping", reason="signal; finishing the current stage")
        self._stop.set()

    def serve(self, *, until=None) -> None:
        """Run until stopped (signal, ``stop()``, or ``until()`` returning True)."""
        db.secure_dir(self.settings.landing)
        observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        observer.schedule(_Handler(self), str(self.settings.landing), recursive=False)
        observer.start()
        log.info("watch.started", landing=str(self.settings.landing), polling=self.polling,
                 scheduler=self.scheduler_url or "local", settle_s=self.settings.settle_seconds,
                 reconcile_s=self.settings.reconcile_seconds)
        try:
            self.resume_unfinished()
            self.reconcile()
            last_scan = time.monotonic()
            while not self._stop.is_set() and not (until and until()):
                if time.monotonic() - last_scan >= self.settings.reconcile_seconds:
                    self.reconcile()
                    last_scan = time.monotonic()
                ready = self.settled()
                if ready:
                    self.process(ready)
                else:
                    self._stop.wait(self.poll_interval)
        finally:
            observer.stop()
            observer.join(timeout=5)
            log.info("watch.stopped", processed=len(self.processed))


def install_signal_handlers(watcher: Watcher) -> None:
    signal.signal(signal.SIGTERM, watcher.stop)
    signal.signal(signal.SIGINT, watcher.stop)
