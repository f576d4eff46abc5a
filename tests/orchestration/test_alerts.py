"""Alerts delivered for real: a webhook server and an SMTP sink on 127.0.0.1, real Luigi runs.

Each case gets its own warehouse; every alert must arrive exactly once on both channels, with
its batch id and reason, and clean batches must send none.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from structlog.testing import capture_logs

from pipeline import cli
from pipeline.errors import ConfigError
from pipeline.generate import generate
from pipeline.orchestration import alerts, runner
from pipeline.settings import load_settings
from tests.helpers import REPO, SmtpSink, WebhookSink, chats_text, free_port, read_ledger, running, wait_for, write


@pytest.fixture
def sinks():
    webhook, smtp = WebhookSink(), SmtpSink()
    yield webhook, smtp
    webhook.close()
    smtp.close()


def _configure(tmp_path: Path, monkeypatch, *, webhook_url: str, smtp_port: int, **alert_settings) -> Path:
    """The repo's luigi.cfg plus an [alerts] and [smtp] section pointing at the sinks."""
    extra = {"cooldown_seconds": "3600", "freshness_seconds": "0", **alert_settings}
    base = (REPO / "luigi.cfg").read_text()
    base = re.sub(r"\n\[alerts\]\n.*?(?=\n\[|\Z)", "\n", base, flags=re.S)  # the repo's [alerts], replaced
    cfg = base + "\n[alerts]\n" + "".join(f"{k} = {v}\n" for k, v in extra.items())
    cfg += f"\n[smtp]\nhost = 127.0.0.1\nport = {smtp_port}\ntimeout = 5\n"
    path = tmp_path / "luigi.cfg"
    path.write_text(cfg)
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(path))
    monkeypatch.setenv("PIPELINE_ALERTS_WEBHOOK_URL", webhook_url)
    monkeypatch.setenv("PIPELINE_ALERTS_EMAIL_TO", "oncall@example.com")
    return path


@pytest.fixture
def alerting(tmp_path, monkeypatch, sinks):
    webhook, smtp = sinks
    _configure(tmp_path, monkeypatch, webhook_url=webhook.url, smtp_port=smtp.port)
    (tmp_path / "landing").mkdir()
    return load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")


def _delivered(sinks) -> tuple[list[dict], list]:
    webhook, smtp = sinks
    return webhook.received, smtp.messages


def _assert_one(sinks, cause: str, batch_id: str | None, reason_part: str) -> dict:
    """Exactly one alert on each channel, with this cause, batch id and reason."""
    posts, mails = _delivered(sinks)
    assert [(p["cause"], p["batch_id"]) for p in posts] == [(cause, batch_id)], posts
    assert reason_part in posts[0]["reason"]
    assert posts[0]["text"].startswith(f"[pipeline] {cause}: ")
    assert len(mails) == 1
    assert mails[0]["Subject"] == f"[pipeline] {cause}" + (f" {batch_id}" if batch_id else "")
    assert mails[0]["To"] == "oncall@example.com"
    assert reason_part in mails[0].get_payload(decode=True).decode()
    return posts[0]


def _split_chats(source: Path, parts: list[tuple[str, int, int]], landing: Path) -> None:
    """Rows [start, end) of a generated chats.csv (no messages: one line per row) as separate files."""
    lines = source.read_text().splitlines(keepends=True)
    for name, start, end in parts:
        write(landing / name, lines[0] + "".join(lines[1 + start : 1 + end]))


def test_clean_batches_send_nothing_and_a_category_shift_sends_one_drift_alert(
    alerting, sinks, tmp_path, monkeypatch, capsys
):
    """Four clean batches (the fourth compared with three: drift_min_batches 3 keeps the test short),
    then one with half its chats moved to one category."""
    monkeypatch.setenv("PIPELINE_DRIFT_MIN_BATCHES", "3")
    generate(tmp_path / "clean", chats=7000, categories=30, seed=1, messages=False)
    generate(tmp_path / "skewed", chats=7000, categories=30, seed=1, messages=False, category_skew=0.5)
    _split_chats(
        tmp_path / "clean" / "chats.csv",
        [(f"part{k}_chats.csv", 1000 * k, 1000 * (k + 1)) for k in range(4)],
        alerting.landing,
    )
    outcomes = runner.run(alerting)
    assert [o.status for o in outcomes] == ["done"] * 4
    assert _delivered(sinks) == ([], [])
    fourth = outcomes[-1].batch_id
    report = json.loads((alerting.reports_dir / "soda" / f"{fourth}.json").read_text())
    assert report["drift"]["baseline_batches"] == 3 and report["drift"]["findings"] == []

    _split_chats(tmp_path / "skewed" / "chats.csv", [("shifted_chats.csv", 6000, 7000)], alerting.landing)
    (shifted,) = runner.run(alerting)
    assert shifted.status == "done"  # drift warns by default: published, reported, alerted
    alert = _assert_one(sinks, "drift_found", shifted.batch_id, "chat_category_id.distribution: PSI")
    assert alert["dataset"] == "chats" and alert["file"] == "shifted_chats.csv"
    with duckdb.connect(str(alerting.warehouse_db), read_only=True) as con:
        findings = con.execute("select batch_id, column_name, metric, method from meta.drift_findings").fetchall()
        profiled = con.execute("select count(distinct batch_id) from meta.batch_profile").fetchone()[0]
    assert findings == [(shifted.batch_id, "chat_category_id", "distribution", "psi")]
    assert profiled == 5
    md = (alerting.reports_dir / "soda" / f"{shifted.batch_id}.md").read_text()
    assert "## Drift against recent batches" in md and "chat_category_id.distribution: PSI" in md

    # quality over time: the report's table and plot, and `pipeline quality`, name the drifting batch
    report_md = (alerting.exports_dir / "report.md").read_text()
    assert "## Quality over time" in report_md and "![quality over time](quality_history.png)" in report_md
    assert (
        f"| chats | 5 | {shifted.batch_id} | 1,000 | 0.00 | - | warned | chat_category_id.distribution |" in report_md
    )
    assert (alerting.exports_dir / "quality_history.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["quality", "--landing", str(alerting.landing), "--warehouse", str(alerting.warehouse)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  chats ")]
    assert [line.split()[2] for line in lines] == [o.batch_id for o in outcomes] + [shifted.batch_id]
    assert lines[-1].split()[-1] == "chat_category_id.distribution" and lines[-2].split()[-1] == "-"


def test_drift_configured_to_withhold_withholds_the_batch_with_one_alert(alerting, sinks, tmp_path, monkeypatch):
    """``drift_action = withhold``: the shifted batch is not published, its alert says why."""
    monkeypatch.setenv("PIPELINE_DRIFT_MIN_BATCHES", "3")
    monkeypatch.setenv("PIPELINE_DRIFT_ACTION", "withhold")
    settings = load_settings(landing=alerting.landing, warehouse=alerting.warehouse)
    generate(tmp_path / "clean", chats=4000, categories=30, seed=1, messages=False)
    generate(tmp_path / "skewed", chats=4000, categories=30, seed=1, messages=False, category_skew=0.5)
    _split_chats(
        tmp_path / "clean" / "chats.csv",
        [(f"part{k}_chats.csv", 1000 * k, 1000 * (k + 1)) for k in range(3)],
        settings.landing,
    )
    assert [o.status for o in runner.run(settings)] == ["done"] * 3
    _split_chats(tmp_path / "skewed" / "chats.csv", [("shifted_chats.csv", 3000, 4000)], settings.landing)
    (shifted,) = runner.run(settings)
    assert shifted.status == "failed"
    assert {r["batch_id"]: r["error_code"] for r in read_ledger(settings)}[shifted.batch_id] == "drift_found"
    _assert_one(sinks, "batch_withheld", shifted.batch_id, "drift_found: ")
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        published = con.execute("select count(*) from raw.chats where _batch_id = ?", [shifted.batch_id]).fetchone()
    assert published == (0,)


def test_a_rejected_file_sends_one_batch_failed_alert(alerting, sinks):
    write(alerting.landing / "broken_chats.csv", b"\x00\x01\x02 not a csv at all\n")
    (outcome,) = runner.run(alerting)
    assert outcome.status == "rejected"
    alert = _assert_one(sinks, "batch_failed", outcome.batch_id, "not_csv: ")
    assert alert["details"] == {"stage": "ingest", "error_code": "not_csv"}


def test_a_stage_failing_after_the_gate_sends_one_batch_failed_alert(alerting, sinks, tmp_path, monkeypatch):
    """A deploy broke a mart model: the batch is published, then its dbt build fails (Luigi's FAILURE event)."""
    project = tmp_path / "dbt"
    shutil.copytree(REPO / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "category_chat_volume.sql"
    model.write_text(model.read_text() + "\nthis is not sql\n")
    monkeypatch.setenv("PIPELINE_DBT_DIR", str(project))
    settings = replace(alerting, dbt_project_dir=project)
    write(settings.landing / "a_chats.csv", chats_text(20))
    (outcome,) = runner.run(settings)
    assert outcome.status == "failed" and read_ledger(settings)[0]["error_code"] == "dbt_build_failed"
    alert = _assert_one(sinks, "batch_failed", outcome.batch_id, "dbt_build_failed: ")
    assert alert["details"] == {"stage": "dbt_build", "error_code": "dbt_build_failed"}


def test_a_withheld_batch_sends_one_alert_and_a_dead_channel_never_fails_it(tmp_path, monkeypatch, sinks):
    """The webhook points at a closed port: logged as a failed channel, the e-mail still goes out."""
    webhook, smtp = sinks
    _configure(tmp_path, monkeypatch, webhook_url=f"http://127.0.0.1:{free_port()}/hook", smtp_port=smtp.port)
    (tmp_path / "landing").mkdir()
    settings = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    generate(tmp_path / "bad", chats=400, categories=10, seed=3, defect_rate=0.2, messages=False)
    write(settings.landing / "bad_chats.csv", (tmp_path / "bad" / "chats.csv").read_bytes())
    with capture_logs() as logs:
        (outcome,) = runner.run(settings)
    assert outcome.status == "failed" and read_ledger(settings)[0]["error_code"] == "quality_gate_failed"
    assert webhook.received == []
    assert len(smtp.messages) == 1 and smtp.messages[0]["Subject"] == f"[pipeline] batch_withheld {outcome.batch_id}"
    assert "quality_gate_failed: " in smtp.messages[0].get_payload(decode=True).decode()
    assert "chats quarantined share of records (%)" in smtp.messages[0].get_payload(decode=True).decode()
    failed = [e for e in logs if e["event"] == "alert.channel_failed"]
    assert [(e["channel"], e["batch_id"]) for e in failed] == [("webhook", outcome.batch_id)]
    assert [e["cause"] for e in logs if e["event"] == "alert"] == ["batch_withheld"]
    md = (settings.reports_dir / "soda" / f"{outcome.batch_id}.md").read_text()
    assert "Not compared: the batch failed its checks, so its profile is not a baseline candidate." in md
    assert "Not compared yet" not in md


def test_a_quarantine_spike_sends_one_alert(alerting, sinks, tmp_path):
    """3 % of the records quarantined: over the 1 % warning, under the 5 % that withholds."""
    generate(tmp_path / "spike", chats=1000, categories=10, seed=4, defect_rate=0.03, messages=False)
    write(alerting.landing / "spike_chats.csv", (tmp_path / "spike" / "chats.csv").read_bytes())
    (outcome,) = runner.run(alerting)
    assert outcome.status == "done"
    _assert_one(sinks, "quarantine_warn", outcome.batch_id, "chats quarantined share of records (%): 3 %")


def test_no_new_file_while_watching_sends_one_alert(tmp_path, monkeypatch, sinks):
    """3 s of silence after the first file (its processing takes longer): one alert naming the last batch."""
    webhook, smtp = sinks
    _configure(tmp_path, monkeypatch, webhook_url=webhook.url, smtp_port=smtp.port, freshness_seconds="3")
    monkeypatch.setenv("PIPELINE_SETTLE_SECONDS", "0.2")
    (tmp_path / "landing").mkdir()
    settings = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    write(settings.landing / "first_chats.csv", chats_text(20))
    with running(settings) as watcher:
        wait_for(lambda: watcher.processed, timeout=120, what="the first file")
        wait_for(lambda: webhook.received, timeout=30, what="the freshness alert")
        time.sleep(4)  # more silence than freshness_seconds again: still one alert for this silence
    (batch,) = watcher.processed
    alert = _assert_one(sinks, "no_new_file", batch, f"no new file in {settings.landing} for ")
    assert alert["file"] == "first_chats.csv"


def test_the_same_cause_within_the_cooldown_is_coalesced_into_the_next_alert(alerting, sinks):
    alerting.warehouse.mkdir()
    alert = alerts.Alert(cause="quarantine_warn", reason="2 %", subject="chats", batch_id="b1", dataset="chats")
    assert alerts.send(alerting, alert) == {"webhook": "sent", "email": "sent"}
    assert alerts.send(alerting, alert) == {"coalesced": "quarantine_warn:chats"}
    assert len(sinks[0].received) == 1 and len(sinks[1].messages) == 1
    later = replace(alerting, alerts=replace(alerting.alerts, cooldown_seconds=0.0))
    assert alerts.send(later, alert) == {"webhook": "sent", "email": "sent"}
    assert [p["suppressed_since_last"] for p in sinks[0].received] == [0, 1]


def test_an_alert_no_channel_took_starts_no_cooldown(alerting, sinks):
    """Every channel down: the next alert of the same cause is tried again, not coalesced for an hour."""
    alerting.warehouse.mkdir()
    dead = replace(
        alerting,
        alerts=replace(alerting.alerts, webhook_url=f"http://127.0.0.1:{free_port()}/hook", smtp_port=free_port()),
    )
    alert = alerts.Alert(cause="quarantine_warn", reason="2 %", subject="chats", batch_id="b1", dataset="chats")
    assert alerts.send(dead, alert) == {"webhook": "failed", "email": "failed"}
    assert alerts.send(dead, alert) == {"webhook": "failed", "email": "failed"}
    assert alerts.send(alerting, alert) == {"webhook": "sent", "email": "sent"}
    assert alerts.send(alerting, alert) == {"coalesced": "quarantine_warn:chats"}
    assert [(p["batch_id"], p["suppressed_since_last"]) for p in sinks[0].received] == [("b1", 0)]
    assert len(sinks[1].messages) == 1


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        (
            "PIPELINE_ALERTS_WEBHOOK_URL",
            "hooks.slack.com/x",
            "setting webhook_url (PIPELINE_ALERTS_WEBHOOK_URL) must be an http:// or https:// address, not 'hooks.slack.com/x'",
        ),
        (
            "PIPELINE_ALERTS_EMAIL_TO",
            "oncall",
            "setting email_to (PIPELINE_ALERTS_EMAIL_TO) has 'oncall', which is not an e-mail address",
        ),
        (
            "PIPELINE_ALERTS_COOLDOWN_SECONDS",
            "soon",
            "setting cooldown_seconds (PIPELINE_ALERTS_COOLDOWN_SECONDS) must be a number of at least 0, not 'soon'",
        ),
        (
            "PIPELINE_ALERTS_TIMEOUT_SECONDS",
            "0",
            "setting timeout_seconds (PIPELINE_ALERTS_TIMEOUT_SECONDS) must be a number above 0, not '0'",
        ),
        (
            "PIPELINE_DRIFT_ACTION",
            "panic",
            "setting drift_action (PIPELINE_DRIFT_ACTION) must be warn or withhold, not 'panic'",
        ),
    ],
)
def test_a_bad_alert_or_drift_setting_is_one_sentence(monkeypatch, variable, value, sentence):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == sentence


@pytest.mark.parametrize("port", ["0", "70000"])
def test_an_smtp_port_outside_1_to_65535_is_one_sentence(tmp_path, monkeypatch, port):
    _configure(tmp_path, monkeypatch, webhook_url="http://127.0.0.1:9/hook", smtp_port=port)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"setting port (luigi.cfg [smtp] port) must be a whole number above 0 and at most 65535, not '{port}'"
    )
