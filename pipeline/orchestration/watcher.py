"""The landing watcher: a long-running service that turns dropped files into batches.

Detection never relies on one mechanism alone:

* watchdog events (inotify: close-after-write, moved-in, created; or the polling
  observer for bind mounts and network shares, ``--polling``) mark a file as *seen*;
* a file is taken only once its size and mtime have not changed for ``settle_seconds``,
  so a copy in progress is never ingested half-way;
* a reconciliation scan of ``landing/`` every ``reconcile_seconds`` (and one at start-up)
  catches what events missed: inotify silently drops events when its queue overflows,
  and files that arrived while the service was down produce no event at all;
* at start-up, batches the ledger shows as unfinished (e.g. after ``kill -9``) are resumed;
* no new file for ``[alerts] freshness_seconds`` is itself news: one ``no_new_file`` alert per
  silence (:class:`pipeline.orchestration.alerts.Heartbeat`).

The watcher only detects; what happens to the settled files is the runner's one batching
policy (:mod:`pipeline.orchestration.runner`): in arrival order, categories before chats,
each file ingested and audited, then one dbt build, redaction and export for the group.
SIGTERM / Ctrl-C stop the service after the stage that is running.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline.orchestration import alerts, runner
from pipeline.settings import Settings
from pipeline.store.landing import arrival_key, display_name, is_candidate, open_for_writing

log = structlog.get_logger()

#: After an event wakes the loop, it waits until none came for this long (at most one poll
#: interval) before looking: files landed together, e.g. a copy tool's renames microseconds
#: apart, go in one run and one dbt build, and a lone file does not wait out the poll interval.
COALESCE_SECONDS = 0.05
#: The service's garbage collector once warm: the young generation collected every 10,000
#: allocations (not 700) and a full collection after 20 x 20 of those. Measured over 10 one-file
#: drops in one process: collector pauses 0.34 s a drop with the defaults (0.24 s of it full
#: collections walking dbt's parsed manifest, the gazetteers and matplotlib), 0.24 s with the
#: warm-up's objects frozen, 0.14 s with these thresholds too.
GC_THRESHOLDS = (10_000, 20, 20)


@dataclass
class _Seen:
    first_seen: float
    size: int
    mtime_ns: int
    stable_since: float
    #: True after a close-after-write or moved-in event, False after a write event, None when
    #: only a scan or a create event found the file (nothing to go by but settle and /proc).
    closed: bool | None = None
    #: Renamed into landing from another name in it (the safe way to land a file: write it under
    #: a hidden name, then rename) and not written since: complete, no settle time to wait.
    moved_in: bool = False


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
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

    def __init__(
        self,
        settings: Settings,
        *,
        polling: bool = False,
        scheduler_url: str | None = None,
        poll_interval: float = 0.25,
        tune_gc: bool = False,
    ) -> None:
        self.settings = settings
        self.polling = polling
        self.scheduler_url = scheduler_url
        self.poll_interval = poll_interval
        self.tune_gc = tune_gc  # the service process only (pipeline watch): it owns the interpreter
        self._seen: dict[Path, _Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # an event about a landing candidate (or stop) came in
        self._failed: dict[Path, tuple[int, int]] = {}  # left in landing after an error: retried once changed
        self.processed: list[str] = []  # batch ids, in the order they finished (for tests/metrics)
        self.heartbeat = alerts.Heartbeat(settings)

    # ------------------------------------------------------------------ detection
    def saw(self, path: Path, how: str) -> None:
        if path.parent != self.settings.landing or not is_candidate(path):
            return
        with self._lock:
            seen = self._seen.get(path)
            if seen is None:
                log.info("watch.file_seen", file=display_name(path.name), how=how)
                self.heartbeat.file_seen()
                seen = self._seen[path] = _Seen(time.monotonic(), -1, -1, time.monotonic())
            if how in ("closed", "moved_in"):
                seen.closed = True
                seen.moved_in = seen.moved_in or how == "moved_in"
            elif how == "modified":  # not "created": a move from outside the folder arrives as one
                seen.closed = seen.moved_in = False
        self._wake.set()

    def reconcile(self) -> None:
        """Scan landing/ for files no event told us about."""
        if not self.settings.landing.is_dir():
            return
        for path in self.settings.landing.iterdir():
            self.saw(path, "scan")

    def settled(self) -> list[Path]:
        """Complete files, in processing order.

        Complete means: size and mtime stable for the settle time, and — where inotify says so —
        closed after the last write (or moved in), and no local process has it open for writing.
        A file renamed in from another name in landing and not written since is complete at once:
        a rename lands the whole file, so waiting out the settle time would only add latency.
        """
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
                    # changed after we first looked: whatever the events said, settle like any file
                    seen.moved_in = seen.moved_in and seen.size == -1
                    seen.size, seen.mtime_ns, seen.stable_since = st.st_size, st.st_mtime_ns, now
                    if seen.moved_in:
                        ready.append(path)
                elif seen.moved_in or (
                    now - seen.stable_since >= self.settings.settle_seconds
                    and (self.polling or seen.closed is not False)
                ):
                    ready.append(path)
        writing = open_for_writing(ready)
        return sorted((p for p in ready if p not in writing), key=lambda p: arrival_key(p, self.settings))

    # ------------------------------------------------------------------ processing
    def process(self, paths: list[Path]) -> None:
        """Hand the settled files to the runner: one Luigi run (audit all, then one dbt build)."""
        if self._stop.is_set():
            return
        started = time.perf_counter()
        for path in paths:
            log.info("watch.queued", file=display_name(path.name))
        outcomes = runner.run(self.settings, paths, scheduler_url=self.scheduler_url, own_signals=False, settled=True)
        for path, outcome in zip(paths, outcomes):
            self._finished(path, outcome, started)
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

    def _finished(self, path: Path, outcome: runner.BatchOutcome, started: float) -> None:
        self._set_aside(path)
        self._ended(outcome, started)

    def _ended(self, outcome: runner.BatchOutcome, started: float, **extra: object) -> None:
        """Count the batch and log its ``watch.batch_end`` line (one line per batch, whatever started it)."""
        if outcome.batch_id:
            self.processed.append(outcome.batch_id)
        log.info(
            "watch.batch_end",
            file=outcome.file,
            batch_id=outcome.batch_id,
            status=outcome.status,
            error=outcome.error,
            duration_s=round(time.perf_counter() - started, 3),
            **extra,
        )

    def resume_unfinished(self) -> None:
        """Finish batches a crash or an error left half-way (ingested, chain not done).

        Failed batches are resumed too: after a transient error (disk full, a lock held too
        long) the restart finishes them at the stage that failed. (Every run resumes them too;
        this makes start-up do it before anything new arrives.)
        """
        started = time.perf_counter()
        for outcome in runner.run(self.settings, [], scheduler_url=self.scheduler_url, own_signals=False):
            self._ended(outcome, started, resumed=True)

    # ------------------------------------------------------------------ service
    def stop(self, *_args) -> None:
        if not self._stop.is_set():
            log.info("watch.stopping", reason="signal; finishing the current stage")
        self._stop.set()
        self._wake.set()

    def _idle(self) -> None:
        """Wait for an event, or one poll interval (settle times and scans still need looking at);
        after an event, let the rest of its burst arrive (:data:`COALESCE_SECONDS`)."""
        if not self._wake.wait(self.poll_interval):
            return
        deadline = time.monotonic() + self.poll_interval
        self._wake.clear()
        while not self._stop.is_set() and time.monotonic() < deadline and self._wake.wait(COALESCE_SECONDS):
            self._wake.clear()

    def serve(self, *, until=None) -> None:
        """Run until stopped (signal, ``stop()``, or ``until()`` returning True)."""
        self.settings.landing.mkdir(parents=True, exist_ok=True)  # the drop folder: its mode is the producers'
        observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        observer.schedule(_Handler(self), str(self.settings.landing), recursive=False)
        observer.start()
        log.info(
            "watch.started",
            landing=str(self.settings.landing),
            polling=self.polling,
            scheduler=self.scheduler_url or "local",
            settle_s=self.settings.settle_seconds,
            reconcile_s=self.settings.reconcile_seconds,
        )
        try:
            started = time.perf_counter()
            runner.warm_up(self.settings)  # files landing meanwhile are seen and wait their turn
            frozen = _tune_collector() if self.tune_gc else 0
            log.info("watch.ready", warm_up_s=round(time.perf_counter() - started, 3), gc_frozen_objects=frozen)
            self.resume_unfinished()
            self.heartbeat.file_seen()  # the silence is counted from the start of the service
            self.reconcile()
            last_scan = time.monotonic()
            while not self._stop.is_set() and not (until and until()):
                self.heartbeat.check()
                if time.monotonic() - last_scan >= self.settings.reconcile_seconds:
                    self.reconcile()
                    last_scan = time.monotonic()
                ready = self.settled()
                if ready:
                    self.process(ready)
                else:
                    self._idle()
        finally:
            observer.stop()
            observer.join(timeout=5)
            log.info("watch.stopped", processed=len(self.processed))


def _tune_collector() -> int:
    """Move what the warm-up built (it lives as long as the process) out of the collector's
    view, and collect less often (:data:`GC_THRESHOLDS`); returns how many objects were frozen."""
    gc.collect()  # garbage left now would be frozen with the rest and never freed
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return gc.get_freeze_count()


def install_signal_handlers(watcher: Watcher) -> None:
    signal.signal(signal.SIGTERM, watcher.stop)
    signal.signal(signal.SIGINT, watcher.stop)
