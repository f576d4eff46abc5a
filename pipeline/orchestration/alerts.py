"""Alerts: people hear about failed and withheld batches, quarantine spikes, drift and silence.

Causes (``Alert.cause``):

- ``batch_failed``: a stage raised (Luigi's ``Event.FAILURE`` / ``Event.PROCESS_FAILURE``,
  registered in :mod:`pipeline.orchestration.tasks`), a file rejected as a whole included;
- ``batch_withheld``: the quality gate withheld the batch (failing checks, or drift with
  ``drift_action = withhold``);
- ``quarantine_warn``: the gate's quarantine-share check warned (the threshold is the gate's,
  ``quarantine_warn_pct``; above ``quarantine_fail_pct`` the batch is withheld instead);
- ``drift_found``: the batch's profile is off its baseline (:mod:`pipeline.stages.profile`);
- ``no_new_file``: ``watch`` saw no new file for ``[alerts] freshness_seconds``.

Every alert is one structured log line (``alert``); then it goes to each configured channel: a
JSON webhook (``text`` for Slack/Teams incoming webhooks, plus the fields) and e-mail through
the SMTP server of Luigi's ``[smtp]``. A channel that fails is logged (``alert.channel_failed``)
and never fails the batch. Alerts of the same cause and subject (a batch, a dataset, the drop
folder) within ``cooldown_seconds`` are coalesced: logged as ``alert.coalesced`` and counted in
the next one that goes out. The cooldown state is ``warehouse/alerts/state.json``, shared by
every pipeline process (a file lock, not the warehouse's).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import smtplib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import structlog
import tenacity

from pipeline.settings import AlertSettings, Settings
from pipeline.store import ledger
from pipeline.store.files import atomic_write_text, secure_dir

log = structlog.get_logger()

CAUSES = ("batch_failed", "batch_withheld", "quarantine_warn", "drift_found", "no_new_file")


@dataclass(frozen=True)
class Alert:
    cause: str
    reason: str
    #: What the cooldown coalesces on, with the cause: a batch id, a dataset, the drop folder.
    subject: str
    batch_id: str | None = None
    dataset: str | None = None
    file: str | None = None
    severity: str = "warning"
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cause not in CAUSES:
            raise ValueError(f"unknown alert cause {self.cause!r}")

    @property
    def key(self) -> str:
        return f"{self.cause}:{self.subject}"

    def text(self) -> str:
        where = f"batch {self.batch_id}" if self.batch_id else "pipeline"
        about = ", ".join(x for x in (self.dataset, self.file) if x)
        return f"[pipeline] {self.cause}: {where}" + (f" ({about})" if about else "") + f": {self.reason}"


# --- cooldown --------------------------------------------------------------------------------------


def _state_dir(settings: Settings) -> Path:
    return settings.warehouse / "alerts"


@contextlib.contextmanager
def _locked_state(settings: Settings) -> Iterator[dict[str, Any]]:
    """The cooldown state under an exclusive file lock; written back when the block ends."""
    folder = secure_dir(_state_dir(settings))
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = folder / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        yield state
        atomic_write_text(path, json.dumps(state, indent=1, sort_keys=True) + "\n")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _admit(settings: Settings, alert: Alert, now: float) -> int | None:
    """None when the alert falls in its key's cooldown (counted); else how many were coalesced since the last.

    Admitting does not start a cooldown: only a delivery does (:func:`_delivered`), so an alert whose
    every channel failed is tried again next time instead of silencing its cause for the cooldown.
    """
    with _locked_state(settings) as state:
        entry = state.get(alert.key) or {}
        if "sent_at" in entry and now - float(entry["sent_at"]) < settings.alerts.cooldown_seconds:
            entry["suppressed"] = int(entry.get("suppressed", 0)) + 1
            state[alert.key] = entry
            return None
        return int(entry.get("suppressed", 0))


def _delivered(settings: Settings, alert: Alert, now: float) -> None:
    """Start the key's cooldown: the alert reached a channel (or none is configured: the log is the channel)."""
    with _locked_state(settings) as state:
        state[alert.key] = {"sent_at": now, "suppressed": 0}


# --- channels --------------------------------------------------------------------------------------


class _Retryable(Exception):
    """A delivery error worth another attempt (connection refused, timeout, HTTP 5xx or 429)."""


@tenacity.retry(
    stop=tenacity.stop_after_attempt(3),
    wait=tenacity.wait_exponential(multiplier=0.2, max=2),
    retry=tenacity.retry_if_exception_type(_Retryable),
    reraise=True,
)
def _post(url: str, body: bytes, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured webhook
            return response.status
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from exc
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _Retryable(str(getattr(exc, "reason", exc))) from exc


def send_webhook(config: AlertSettings, payload: dict[str, Any]) -> None:
    _post(config.webhook_url, json.dumps(payload, default=str).encode(), config.timeout_seconds)


def send_email(config: AlertSettings, alert: Alert, payload: dict[str, Any]) -> None:
    """One message through the SMTP server of Luigi's ``[smtp]`` (STARTTLS when offered, unless ``no_tls``)."""
    message = EmailMessage()
    message["Subject"] = f"[pipeline] {alert.cause}" + (f" {alert.batch_id}" if alert.batch_id else "")
    message["From"] = config.email_from
    message["To"] = ", ".join(config.email_to)
    message.set_content(alert.text() + "\n\n" + json.dumps(payload, indent=2, default=str) + "\n")
    factory = smtplib.SMTP_SSL if config.smtp_ssl else smtplib.SMTP
    with factory(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout) as smtp:
        smtp.ehlo_or_helo_if_needed()
        if not config.smtp_ssl and not config.smtp_no_tls and smtp.has_extn("starttls"):
            smtp.starttls()
            smtp.ehlo()
        if config.smtp_username:
            smtp.login(config.smtp_username, config.smtp_password or "")
        smtp.send_message(message)


def _channels(config: AlertSettings) -> list[str]:
    return [name for name, on in (("webhook", config.webhook_url), ("email", config.email_to)) if on]


def send(settings: Settings, alert: Alert) -> dict[str, str]:
    """Log the alert, deliver it to every configured channel; never raises.

    Returns each channel's outcome (``sent``, ``failed``), or ``{"coalesced": …}`` within the
    cooldown.
    """
    try:
        return _send(settings, alert)
    except Exception as exc:  # the alert machinery itself broke: say so, never fail the batch
        log.error("alert.failed", cause=alert.cause, batch_id=alert.batch_id, error=str(exc)[:500])
        return {"error": str(exc)}


def _send(settings: Settings, alert: Alert) -> dict[str, str]:
    config = settings.alerts
    now = time.time()
    try:
        suppressed = _admit(settings, alert, now)
    except Exception as exc:  # no cooldown state (folder unusable): deliver rather than stay silent
        log.error("alert.cooldown_unavailable", cause=alert.cause, error=_line(exc))
        suppressed = 0
    if suppressed is None:
        log.info("alert.coalesced", cause=alert.cause, subject=alert.subject, batch_id=alert.batch_id)
        return {"coalesced": alert.key}
    payload = {
        "text": alert.text(),
        **asdict(alert),
        "suppressed_since_last": suppressed,
        "sent_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "host": socket.gethostname(),
    }
    channels = _channels(config)
    log.warning(
        "alert",
        cause=alert.cause,
        batch_id=alert.batch_id,
        dataset=alert.dataset,
        file=alert.file,
        reason=alert.reason,
        suppressed_since_last=suppressed,
        channels=channels,
    )
    outcomes = {}
    for channel in channels:
        try:
            if channel == "webhook":
                send_webhook(config, payload)
            else:
                send_email(config, alert, payload)
            outcomes[channel] = "sent"
        except Exception as exc:
            outcomes[channel] = "failed"
            log.error(
                "alert.channel_failed", channel=channel, cause=alert.cause, batch_id=alert.batch_id, error=_line(exc)
            )
    if not channels or "sent" in outcomes.values():
        try:
            _delivered(settings, alert, now)
        except Exception as exc:  # the alert went out; only its cooldown could not be kept
            log.error("alert.cooldown_unavailable", cause=alert.cause, error=_line(exc))
    return outcomes


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


# --- what the pipeline alerts on -------------------------------------------------------------------


def _records(settings: Settings, batch_ids: list[str]) -> list[dict[str, Any]]:
    """Ledger rows of the batches from the snapshot (no warehouse lock: a failure handler must not wait)."""
    snapshot = ledger.read_snapshot(settings.warehouse_db) or {"batches": []}
    by_id = {b["batch_id"]: b for b in snapshot["batches"]}
    return [by_id.get(b, {"batch_id": b}) for b in batch_ids]


def task_failed(settings: Settings, stage: str, batch_ids: list[str], cause: str, reason: str, code: str) -> None:
    """A stage failed (``batch_failed``) or the gate withheld the batch (``batch_withheld``): one alert.

    A warehouse-wide stage covers several batches: one alert names them all.
    """
    records = _records(settings, batch_ids)
    batch_id = ",".join(batch_ids)
    send(
        settings,
        Alert(
            cause=cause,
            reason=reason,
            subject=f"{batch_id}:{code}",
            batch_id=batch_id,
            dataset=",".join(sorted({r.get("dataset") or "" for r in records} - {""})) or None,
            file=",".join(r.get("file") or "" for r in records if r.get("file")) or None,
            severity="error" if cause == "batch_failed" else "warning",
            details={"stage": stage, "error_code": code},
        ),
    )


class Heartbeat:
    """``no_new_file`` once per silence: no new file for ``freshness_seconds`` while ``watch`` runs.

    The clock starts when the watcher starts and again at every new file; after an alert the
    next one needs a new file first (and the cooldown).
    """

    def __init__(self, settings: Settings, *, clock=time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.since = clock()
        self.alerted = False

    def file_seen(self) -> None:
        self.since, self.alerted = self.clock(), False

    def check(self) -> bool:
        """Send the alert when the silence is long enough; True when it was sent now."""
        limit = self.settings.alerts.freshness_seconds
        silent = self.clock() - self.since
        if not limit or self.alerted or silent < limit:
            return False
        self.alerted = True
        snapshot = ledger.read_snapshot(self.settings.warehouse_db) or {"batches": []}
        last = max(snapshot["batches"], key=lambda b: b.get("seq") or 0, default=None)
        since = f"; the last file was {last['file']} (batch {last['batch_id']})" if last else ""
        send(
            self.settings,
            Alert(
                cause="no_new_file",
                reason=f"no new file in {self.settings.landing} for {silent:.0f}s (freshness_seconds {limit:g}){since}",
                subject=str(self.settings.landing),
                batch_id=last["batch_id"] if last else None,
                dataset=last.get("dataset") if last else None,
                file=last.get("file") if last else None,
                details={"silent_seconds": round(silent, 1), "freshness_seconds": limit},
            ),
        )
        return True
