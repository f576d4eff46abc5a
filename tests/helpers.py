"""Helpers shared by the tests (plain functions and classes; fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import duckdb

from pipeline.orchestration.watcher import Watcher
from pipeline.settings import Settings
from pipeline.store import db, ledger

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_ledger(settings: Settings) -> list[dict]:
    """The ledger rows in arrival order, read in-process ([] until the schema exists).

    Right after another connection of this process to the file closed (the watcher's thread, a
    stage the test just ran), DuckDB 1.4 can refuse a new one for a moment ("Unique file handle
    conflict"): that one error is retried, as the pipeline's own connections do.
    """
    return db.retry_while_closing_elsewhere(30.0)(_read_ledger_once, settings)


def _read_ledger_once(settings: Settings) -> list[dict]:
    if not settings.warehouse_db.exists():
        return []
    with duckdb.connect(str(settings.warehouse_db)) as con:
        if not con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'meta' and table_name = 'batches'"
        ).fetchone()[0]:
            return []  # the file exists, the schema is not created yet
        return ledger.all_batches(con)


# --------------------------------------------------------------------------- small chats files
CHATS_HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"


def chats_text(n: int, offset: int = 0) -> str:
    rows = [
        f"{offset + i:08x}-0000-4000-8000-000000000000,,2023-03-0{1 + i % 9} 1{i % 10}:00:00.000,true,"
        f"2023-03-0{1 + i % 9} 1{i % 10}:30:00.000,hello {i}\n"
        for i in range(n)
    ]
    return CHATS_HEADER + "".join(rows)


@contextlib.contextmanager
def running(settings: Settings, **kwargs):
    """A watcher serving in a background thread; stopped (like SIGTERM) on exit."""
    watcher = Watcher(settings, **{"poll_interval": 0.05, **kwargs})
    thread = threading.Thread(target=watcher.serve, daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the watcher did not stop after the current stage"


# --------------------------------------------------------------------------- a lock holder
HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_lock(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


# --------------------------------------------------------------------------- the watch service
WATCH_CMD = [sys.executable, "-m", "pipeline", "--log-json", "watch", "--settle", "0.3", "--reconcile", "1"]


class Service:
    """``python -m pipeline watch`` as a separate process, its JSON log followed in a thread."""

    def __init__(self, settings) -> None:
        self.proc = subprocess.Popen(
            [*WATCH_CMD, "--landing", str(settings.landing), "--warehouse", str(settings.warehouse)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._follow, daemon=True)
        self._reader.start()

    def _follow(self) -> None:
        for line in self.proc.stderr:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def done(self, *files: str) -> bool:
        finished = {
            e.get("file") for e in self.events if e.get("event") == "watch.batch_end" and e.get("status") == "done"
        }
        return set(files) <= finished

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:  # a failed assertion must not leave a service running
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- luigid
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def luigi_api(port: int, method: str, data: dict) -> dict:
    url = f"http://127.0.0.1:{port}/api/{method}?data={urllib.parse.quote(json.dumps(data))}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["response"]


# --------------------------------------------------------------------------- the CLI
def pipeline_cmd(settings: Settings, command: str, *args: str) -> list[str]:
    """``python -m pipeline <command> --landing … --warehouse … <args>`` for ``settings``."""
    return [
        sys.executable,
        "-m",
        "pipeline",
        command,
        "--landing",
        str(settings.landing),
        "--warehouse",
        str(settings.warehouse),
        *args,
    ]


# --------------------------------------------------------------------------- a terminal
def run_in_terminal(args: list[str], *, cwd, env: dict, timeout: float = 600) -> tuple[int, str]:
    """Run ``args`` with stderr on a pseudo-terminal (as a user at a shell sees it); returns (rc, stderr)."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    os.close(master)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def categories_text(n: int, *, empty_disabled: int = 0) -> str:
    rows = [f"{i:08x}-2222-4000-8000-000000000000,,{'' if i < empty_disabled else 'false'}\n" for i in range(n)]
    return "id,parent_id,disabled\n" + "".join(rows)


# --------------------------------------------------------------------------- alert sinks
class WebhookSink:
    """A real HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        import http.server

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        from email import message_from_bytes

        from aiosmtpd.controller import Controller

        messages = self.messages = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                messages.append(message_from_bytes(envelope.content))
                return "250 Message accepted"

        # aiosmtpd logs every connection from its own thread, possibly after pytest closed the
        # stream a test's logging was configured with ("--- Logging error ---" noise): keep it quiet.
        logging.getLogger("mail.log").propagate = False
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
