"""Fault drills (issue 6), run by ``make drill`` (``pytest -m drill``), kept out of ``make test``.

Every drill drives the real worker, ``python -m pipeline watch`` as a separate process
(``tests.helpers.Service``), over real DuckDB files in tmp folders, and ends with the
conservation audit of ``tests/drills/conservation.py``:

* ``kill -9`` at 20 seeded random points spread over every stage, and at the exact moments
  right after a commit that random points rarely hit; after a restart the warehouse, ledger,
  share layer, exports and files equal an undisturbed run's;
* the disk filling up while a batch is written: it fails cleanly, nothing partial is
  published, the file stays recoverable, and the batch goes through once space returns;
* the warehouse held by another process for 30 s while a file lands: the worker waits, says
  so in its log, then finishes the batch.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pytest

from pipeline.generate import generate
from pipeline.settings import Settings, load_settings
from pipeline.store import ledger
from tests import helpers
from tests.drills import conservation
from tests.drills.drill_worker import WINDOWS
from tests.helpers import Service, hold_lock, read_ledger, wait_for

pytestmark = pytest.mark.drill

INPUTS = ("categories.csv", "chats.csv")
SEED = 6
KILLS = 20
#: A fixed pseudonym key, so that the share layers of all runs can be compared.
PSEUDONYM_KEY = "drill-key-" + "5" * 54


@pytest.fixture(autouse=True)
def _drill_key(_isolated_env, monkeypatch):
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", PSEUDONYM_KEY)


def _fresh(root: Path, inputs: Path, names: tuple[str, ...] = INPUTS) -> Settings:
    """New landing/ and warehouse/ folders under ``root``, the input files copied into landing/."""
    settings = load_settings(landing=root / "landing", warehouse=root / "warehouse")
    settings.landing.mkdir(parents=True)
    for name in names:
        shutil.copyfile(inputs / name, settings.landing / name)
    return settings


def _ended(service: Service) -> dict[str, str]:
    """File → status of the ``watch.batch_end`` lines the service logged so far."""
    return {e["file"]: e["status"] for e in list(service.events) if e.get("event") == "watch.batch_end"}


def _run_until_done(settings: Settings, files: set[str], timeout: float = 300) -> list[dict]:
    """Start the service, wait until ``files`` ended (or, when none, it started and idled), stop it.

    Whether they ended ``done`` is for the caller to check (the ledger says it).
    """
    with Service(settings) as service:
        try:
            if files:
                wait_for(lambda: files <= set(_ended(service)), timeout=timeout, what=f"{sorted(files)} processed")
            else:  # nothing left to resume: it must start, find nothing to do and stay up
                wait_for(lambda: any(e.get("event") == "watch.started" for e in service.events), what="start-up")
                time.sleep(2)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; the service's last lines: {[(e.get('event'), e.get('file')) for e in service.events[-10:]]}"
            ) from None
        assert service.stop() == 0
    return service.events


def _unfinished(settings: Settings) -> set[str]:
    """Input files the ledger does not show done, or still waiting in landing/."""
    done = {r["file"] for r in read_ledger(settings) if r["status"] == "done"}
    return {name for name in INPUTS if name not in done or (settings.landing / name).exists()}


def _timestamp(event: dict) -> float:
    return dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- baseline
@dataclass
class Baseline:
    inputs: Path  # categories.csv + chats.csv
    settings: Settings
    snapshot: dict
    events: list[dict]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Baseline:
    """Generated input files and an undisturbed run of the service over them."""
    root = tmp_path_factory.mktemp("drill")
    generate(root / "input", chats=20_000, categories=460, seed=SEED, defect_rate=0.01, messages=True)
    with pytest.MonkeyPatch.context() as mp:  # module scope: the per-test environment is not set up yet
        mp.setenv("PIPELINE_PSEUDONYM_KEY", PSEUDONYM_KEY)
        settings = _fresh(root / "baseline", root / "input")
        events = _run_until_done(settings, set(INPUTS))
    assert conservation.audit(settings) == 2
    return Baseline(root / "input", settings, conservation.snapshot(settings), events)


def test_the_audit_catches_a_dropped_row(baseline, tmp_path):
    """The audit itself: one loaded row deleted from a copy of the warehouse must not pass."""
    copy = load_settings(landing=baseline.settings.landing, warehouse=tmp_path / "warehouse")
    copy.warehouse.mkdir()
    shutil.copyfile(baseline.settings.warehouse_db, copy.warehouse_db)
    assert conservation.problems(copy) == []
    with duckdb.connect(str(copy.warehouse_db)) as con:
        line = con.execute("select max(_line_number) from raw.chats").fetchone()[0]
        con.execute("delete from raw.chats where _line_number = ?", [line])
    found = conservation.problems(copy)
    assert any("rows in audit/raw.chats but rows_loaded" in p for p in found), found
    # Even with the ledger counts made to agree, the file's own lines give the row away.
    with duckdb.connect(str(copy.warehouse_db)) as con:
        chats = next(b for b in ledger.all_batches(con) if b["dataset"] == "chats")
        ledger._set(con, chats["batch_id"], rows_read=chats["rows_read"] - 1, rows_loaded=chats["rows_loaded"] - 1)
    assert conservation.problems(copy) == [
        f"{baseline.snapshot['ledger'][1]['batch_id']} (chats.csv): 1 data line(s) are in no record, "
        f"e.g. lines [{line}]"
    ]
    with pytest.raises(conservation.ConservationError):
        conservation.audit(copy)


# --------------------------------------------------------------------------- kill -9
#: Log events that end a stage: the time after them is the marker write, ledger update or file
#: move between two stages.
STAGE_ENDS = {
    "ingest.done",
    "publish.done",
    "transform.build",
    "redact.done",
    "export.done",
    "batch.finished",
    "watch.batch_end",
}
#: Stage of the events that start or run inside one (by their name's prefix).
STAGE_OF = {
    "ingest": "ingest",
    "quality_gate": "quality gate",
    "publish": "quality gate",
    "dbt_build": "dbt build",
    "transform": "dbt build",
    "redact": "redact",
    "pseudonym": "redact",
    "export": "export",
    "watch": "between stages",
}
CATEGORIES = ("ingest", "quality gate", "dbt build", "redact", "export", "between stages")


def _category(event: str) -> str | None:
    return "between stages" if event in STAGE_ENDS else STAGE_OF.get(event.split(".")[0])


@dataclass(frozen=True)
class Anchor:
    """A log event of the undisturbed run and the time until the next one."""

    category: str
    event: str
    file: str
    gap_ms: float


@dataclass(frozen=True)
class KillPoint:
    category: str
    event: str
    file: str
    delay_ms: float


def anchors(events: list[dict]) -> list[Anchor]:
    """Events of the chain (from the first batch queued to the last batch's end) with their gaps."""
    chain = [e for e in events if e.get("logger", "").startswith("pipeline.") and e.get("file")]
    first = next(i for i, e in enumerate(chain) if e["event"] == "watch.queued")
    chain = chain[first:]
    out = []
    for event, following in zip(chain, chain[1:]):
        category = _category(event["event"])
        if category:
            out.append(
                Anchor(category, event["event"], event["file"], (_timestamp(following) - _timestamp(event)) * 1000)
            )
    return out


def draw(rng: random.Random, candidates: list[Anchor], category: str) -> KillPoint:
    """A random event of the category and a random delay that lands before the next event.

    The delay stays under 90 % of the undisturbed run's gap: a run is seldom much faster.
    """
    anchor = rng.choice([a for a in candidates if a.category == category])
    return KillPoint(category, anchor.event, anchor.file, round(rng.uniform(0, 0.9 * anchor.gap_ms), 1))


@dataclass
class Outcome:
    point: KillPoint
    last_event: str  # the last line the worker logged before it died, "event (file)"
    died_in: str  # the stage that line starts or runs in ("between stages" after a stage's end)
    after_ms: float  # how long after that line it died
    mid_work: bool  # False: the chain had already finished, this was no kill
    problems: list[str]


def kill_at(service: Service, point: KillPoint, timeout: float = 120) -> tuple[dict, float, bool]:
    """Wait for the point's log event, sleep its delay, SIGKILL the worker.

    Returns the last line it logged, how long before the kill that was, and whether the
    chain still had work to do (else the kill hit an idle service).
    """
    deadline = time.monotonic() + timeout
    while not any(e.get("event") == point.event and e.get("file") == point.file for e in list(service.events)):
        assert service.proc.poll() is None, "the service exited on its own"
        assert time.monotonic() < deadline, (
            f"timed out waiting for {point.event} of {point.file}; last lines: "
            f"{[e.get('event') for e in service.events[-5:]]}"
        )
        time.sleep(0.001)
    time.sleep(point.delay_ms / 1000)
    killed_at = time.time()
    service.proc.kill()
    service.proc.wait()
    service._reader.join(timeout=10)  # every line logged before the kill has been read
    last = [e for e in service.events if e.get("logger", "").startswith("pipeline.")][-1]
    finished = {f for f, status in _ended(service).items() if status == "done"} >= set(INPUTS)
    return last, (killed_at - _timestamp(last)) * 1000, not finished


def _trial(baseline: Baseline, root: Path, point: KillPoint) -> Outcome:
    """Kill at the point, restart, and compare with the undisturbed run (problems: [] when equal)."""
    settings = _fresh(root, baseline.inputs)
    with Service(settings) as service:
        last, after_ms, mid_work = kill_at(service, point)
    outcome = Outcome(
        point, f"{last['event']} ({last.get('file', '-')})", _category(last["event"]) or "?", after_ms, mid_work, []
    )
    if mid_work:
        try:
            _run_until_done(settings, _unfinished(settings), timeout=180)
        except AssertionError as exc:  # recorded against this point; the drill goes on
            outcome.problems = [f"restart: {exc}"]
        else:
            outcome.problems = conservation.differences(
                baseline.snapshot, conservation.snapshot(settings)
            ) + conservation.problems(settings)
    shutil.rmtree(root)
    return outcome


def _table(outcomes: list[Outcome]) -> str:
    lines = [
        f"{'#':>2}  {'planned stage':<14} {'kill after event (file)':<42} {'delay':>9}  "
        f"{'died in':<14} {'last line logged (file)':<42} {'+ms':>7}  outcome"
    ]
    for i, o in enumerate(outcomes, 1):
        p = o.point
        verdict = "no kill (idle): redrawn" if not o.mid_work else ("OK" if not o.problems else "MISMATCH")
        lines.append(
            f"{i:>2}  {p.category:<14} {f'{p.event} ({p.file})':<42} {p.delay_ms:>7.1f}ms  "
            f"{o.died_in:<14} {o.last_event:<42} {o.after_ms:>7.1f}  {verdict}"
        )
    killed = [o.died_in for o in outcomes if o.mid_work]
    lines.append(f"{len(killed)} kills mid-work: " + ", ".join(f"{c} {killed.count(c)}" for c in CATEGORIES))
    return "\n".join(lines)


def test_kill_9_at_20_random_points_then_restart_equals_an_undisturbed_run(baseline, tmp_path, capsys):
    """SIGKILL the worker at seeded random points in every stage; restart; compare with the baseline.

    A point is an event of the undisturbed run's log and a delay after it. Runs vary in speed,
    so where the worker really died is read from its last log line: a kill that found the
    chain finished is no kill and is redrawn, and a stage no kill landed in gets extra points
    (at most five redraws in all). The drill fails unless 20 kills hit work in every stage.
    """
    rng = random.Random(SEED)
    candidates = anchors(baseline.events)
    assert {a.category for a in candidates} == set(CATEGORIES), candidates
    plan = [CATEGORIES[i % len(CATEGORIES)] for i in range(KILLS)]
    rng.shuffle(plan)
    outcomes: list[Outcome] = []

    def missed() -> list[str]:
        return [c for c in CATEGORIES if c not in {o.died_in for o in outcomes if o.mid_work}]

    while plan or (missed() and len(outcomes) < KILLS + 5):
        if not plan and sum(o.mid_work for o in outcomes) >= KILLS:
            plan.append(missed()[0])
        outcome = _trial(baseline, tmp_path / f"kill{len(outcomes):02d}", draw(rng, candidates, plan[0]))
        outcomes.append(outcome)
        if outcome.mid_work:
            plan.pop(0)
        assert len(outcomes) <= KILLS + 5, "kill points keep missing the chain:\n" + _table(outcomes)
    with capsys.disabled():
        print(f"\nkill -9 drill, seed {SEED}:\n{_table(outcomes)}")
    assert sum(o.mid_work for o in outcomes) >= KILLS
    assert not missed(), f"no kill landed in {missed()}"
    bad = {i: o.problems for i, o in enumerate(outcomes, 1) if o.problems}
    assert not bad, "\n".join(f"point {i}: " + "\n    ".join(p) for i, p in bad.items())


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_kill_9_right_after_a_commit_then_restart_equals_an_undisturbed_run(baseline, tmp_path, monkeypatch, window):
    """The worker dies at the first batch that reaches the window (``tests/drills/drill_worker.py``)."""
    settings = _fresh(tmp_path, baseline.inputs)
    with monkeypatch.context() as mp:
        mp.setattr(
            helpers,
            "WATCH_CMD",
            [sys.executable, str(Path(__file__).with_name("drill_worker.py")), *helpers.WATCH_CMD[3:]],
        )
        mp.setenv("DRILL_CRASH", window)
        with Service(settings) as service:
            assert service.proc.wait(timeout=300) == -signal.SIGKILL, f"the worker never reached {window}"
    _run_until_done(settings, _unfinished(settings))
    assert conservation.differences(baseline.snapshot, conservation.snapshot(settings)) == []
    conservation.audit(settings)


# --------------------------------------------------------------------------- disk full
@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs mounted on a fresh warehouse folder, unmounted afterwards."""
    folder = tmp_path / "run" / "warehouse"
    folder.mkdir(parents=True)
    if shutil.which("mount") is None:
        pytest.skip("the disk-full drill mounts a tmpfs: no `mount` command here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"the disk-full drill mounts a tmpfs (needs root or CAP_SYS_ADMIN): "
            f"`mount -t tmpfs` said: {done.stderr.strip()}"
        )
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)]).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill ``folder``'s file system with one file until only ``leave`` bytes are free."""
    filler = folder / "filler"
    stat = os.statvfs(folder)
    todo = stat.f_bavail * stat.f_frsize - leave
    with open(filler, "ab") as fh:
        while todo > 0:
            try:
                fh.write(b"\0" * min(todo, 1 << 20))
                fh.flush()
            except OSError as exc:  # full already (the worker was writing too)
                if exc.errno != errno.ENOSPC:
                    raise
                break
            todo -= 1 << 20
    return filler


def _outputs(settings: Settings) -> dict:
    """What readers see of the warehouse besides its tables: the share layer and the exports."""
    snap = conservation.snapshot(settings)
    return {"share": snap["share"], "exports": snap["exports"]}


@pytest.mark.parametrize("fills", ["before_ingest", "during_dbt_build"])
def test_disk_full_fails_the_batch_cleanly_and_it_goes_through_once_space_returns(baseline, small_disk, fills):
    """The warehouse's file system fills up while the chats batch is written.

    ``before_ingest``: 1 MiB is left when the file lands, the load's commit cannot write the
    WAL. ``during_dbt_build``: the disk fills up once the (published) batch's dbt build runs.
    """
    settings = _fresh(small_disk.parent, baseline.inputs, ("categories.csv",))
    _run_until_done(settings, {"categories.csv"})
    before = {**conservation.published_data(settings), **_outputs(settings)}

    filler = _fill(settings.warehouse, leave=1 << 20) if fills == "before_ingest" else None
    with Service(settings) as service:
        wait_for(lambda: any(e.get("event") == "watch.started" for e in service.events), what="start-up")
        shutil.copyfile(baseline.inputs / "chats.csv", settings.landing / ".chats.csv.part")
        os.replace(settings.landing / ".chats.csv.part", settings.landing / "chats.csv")
        if fills == "during_dbt_build":
            wait_for(
                lambda: any(
                    e.get("event") == "dbt_build.start" and "chats.csv" in (e.get("file") or "").split(",")
                    for e in service.events
                ),
                what="the chats dbt build",
            )
            filler = _fill(settings.warehouse)
        assert wait_for(lambda: _ended(service).get("chats.csv"), what="the chats batch to end") == "failed"
        time.sleep(1)
        assert service.proc.poll() is None, "the service keeps running after the failed batch"
        assert service.stop() == 0
    [end] = [e for e in service.events if e.get("event") == "watch.batch_end" and e.get("file") == "chats.csv"]
    assert "No space left on device" in end["error"], end

    # Failed cleanly: the reason in the ledger, the warehouse readable, nothing partial published.
    chats = {r["file"]: r for r in read_ledger(settings)}["chats.csv"]
    assert chats["status"] == "failed" and "No space left on device" in chats["error"], chats
    conservation.audit(settings)  # each batch whole or not at all
    if fills == "before_ingest":
        assert {**conservation.published_data(settings), **_outputs(settings)} == before
        kept = settings.landing / "chats.csv"
    else:
        # Published whole before the build; the share layer and exports are the previous ones.
        # The marts are not checked: dbt replaces them one model at a time, so a build that
        # fails half-way leaves some rebuilt and some not until the resumed build (known gap).
        assert _outputs(settings) == {k: before[k] for k in ("share", "exports")}
        kept = settings.archive_dir / f"{chats['seq']:08d}_{chats['batch_id']}__chats.csv"
    assert kept.read_bytes() == (baseline.inputs / "chats.csv").read_bytes(), "the landed file is recoverable"

    filler.unlink()  # space returns; the next run (a restart) finishes the batch
    _run_until_done(settings, {"chats.csv"})
    conservation.audit(settings)
    after = conservation.snapshot(settings)
    if fills == "during_dbt_build":  # resumed where it failed: as if nothing had happened
        assert conservation.differences(baseline.snapshot, after) == []
    else:  # retried from the start as a new arrival (a later seq), same results
        for key in ("marts", "share", "exports", "quarantine_by_reason", "markers"):
            assert after[key] == baseline.snapshot[key], key
        assert [(r["file"], r["status"], r["rows_loaded"]) for r in after["ledger"]] == [
            (r["file"], r["status"], r["rows_loaded"]) for r in baseline.snapshot["ledger"]
        ]


# --------------------------------------------------------------------------- locked warehouse
def test_a_warehouse_locked_for_30_s_is_waited_for_then_the_batch_completes(baseline, tmp_path):
    """Another process holds the warehouse read-write for 30 s while chats.csv lands."""
    settings = _fresh(tmp_path, baseline.inputs, ("categories.csv",))
    with Service(settings) as service:
        wait_for(lambda: _ended(service).get("categories.csv"), what="the categories batch")
        holder = hold_lock(settings.warehouse_db, 30)
        held_at = time.time()
        try:
            shutil.copyfile(baseline.inputs / "chats.csv", settings.landing / ".chats.csv.part")
            os.replace(settings.landing / ".chats.csv.part", settings.landing / "chats.csv")
            wait_for(lambda: _ended(service).get("chats.csv"), timeout=180, what="the chats batch")
        finally:
            holder.kill()  # no-op when it let go after 30 s
            holder.wait()
        assert service.stop() == 0
    waits = [e for e in service.events if e.get("event", "").startswith("warehouse.")]
    assert [e["event"] for e in waits] == ["warehouse.locked", "warehouse.lock_acquired"], waits
    assert _timestamp(waits[0]) < held_at + 5, "the wait was logged when it began"
    assert _timestamp(waits[1]) >= held_at + 29, "it waited for the holder to let go"
    assert _ended(service) == {"categories.csv": "done", "chats.csv": "done"}
    assert conservation.differences(baseline.snapshot, conservation.snapshot(settings)) == []
    conservation.audit(settings)


# --------------------------------------------------------------------------- unreadable file
def test_a_file_the_worker_cannot_read_is_set_aside_not_spun_on(settings, monkeypatch):
    """A landed file that cannot be read is logged once and retried once it changes.

    (It used to be settled again at once: a busy loop re-reading the file and logging an error
    line each time.) Root reads any file, so the read error is raised in place of the
    watcher's first read of a landed file, its hash (``sha256_of``).
    """
    from structlog.testing import capture_logs

    from pipeline.orchestration import tasks
    from tests.helpers import chats_text, running

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(tasks, "sha256_of", unreadable)
    fast = replace(settings, settle_seconds=0.3, reconcile_seconds=1.0)
    landed = fast.landing / "locked_chats.csv"
    landed.write_text(chats_text(3))
    with capture_logs() as logs, running(fast):
        wait_for(lambda: any(e["event"] == "landing.unreadable" for e in logs), what="the read error")
        time.sleep(2)
        assert sum(e["event"] == "landing.unreadable" for e in logs) == 1
        os.utime(landed, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file changed: try again
        wait_for(lambda: sum(e["event"] == "landing.unreadable" for e in logs) == 2, what="a retry")
