"""Structured JSON logs: lines parse, carry the run context, rotate, and never hold a secret."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.logs import (
    LOG_FILE_NAME,
    attach_json_handler,
    configure_json_logging,
    current_log_context,
    install_redaction,
    log_context,
    remove_json_logging,
)
from watchkeeper.redaction import RedactingFilter, clear_secrets, redact, register_secret


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    wk = logging.getLogger("watchkeeper")
    level, propagate = wk.level, wk.propagate
    yield
    remove_json_logging()
    clear_secrets()
    wk.setLevel(level)
    wk.propagate = propagate


def _lines(log_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (log_dir / LOG_FILE_NAME).read_text().splitlines()]


def test_lines_parse_and_carry_context(tmp_path: Path) -> None:
    handler = configure_json_logging(tmp_path)
    log = logging.getLogger("watchkeeper.drift")
    window = (datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    with log_context(model="churn", window=window, flow_run_id="fr-123", deployment="churn-daily"):
        log.info("drift share %.2f", 0.25, extra={"event": "drift_computed", "n_drifted": 3})
        with log_context(window="2026-11-27"):  # nested: overrides one key, keeps the others
            log.warning("late labels")
    log.info("outside")
    handler.flush()
    first, second, third = _lines(tmp_path)
    assert first["level"] == "INFO"
    assert first["logger"] == "watchkeeper.drift"
    assert first["message"] == "drift share 0.25"
    assert first["event"] == "drift_computed"
    assert first["model"] == "churn"
    assert first["window"] == "2026-11-26T00:00:00+00:00/2026-11-27T00:00:00+00:00"
    assert first["flow_run_id"] == "fr-123"
    assert first["fields"] == {"deployment": "churn-daily", "n_drifted": 3}
    assert datetime.fromisoformat(first["time"]).utcoffset().total_seconds() == 0
    assert (second["model"], second["window"], second["event"]) == ("churn", "2026-11-27", None)
    assert (third["model"], third["window"], third["flow_run_id"], third["fields"]) == (None, None, None, {})
    assert current_log_context() == {}


def test_context_does_not_leak_between_threads(tmp_path: Path) -> None:
    handler = configure_json_logging(tmp_path)
    log = logging.getLogger("watchkeeper.monitor")
    barrier = threading.Barrier(2)

    def run(model: str) -> None:
        with log_context(model=model):
            barrier.wait()  # both contexts are set at the same time
            log.info("evaluating", extra={"event": model})

    threads = [threading.Thread(target=run, args=(m,)) for m in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handler.flush()
    assert sorted((line["event"], line["model"]) for line in _lines(tmp_path)) == [("a", "a"), ("b", "b")]


def test_idempotent_and_keeps_other_handlers(tmp_path: Path) -> None:
    wk = logging.getLogger("watchkeeper")
    other = logging.NullHandler()
    wk.addHandler(other)
    try:
        first = configure_json_logging(tmp_path)
        second = configure_json_logging(tmp_path)
        assert first is second
        assert wk.handlers.count(first) == 1
        moved = configure_json_logging(tmp_path / "elsewhere")
        assert moved is not first and first not in wk.handlers and moved in wk.handlers
        assert other in wk.handlers
    finally:
        wk.removeHandler(other)


def test_attaches_to_prefect_run_logger_without_removing_its_handler(tmp_path: Path) -> None:
    # Stand-in for Prefect's run logger and its API handler (tests/unit never imports prefect).
    prefect_logger = logging.getLogger("prefect.flow_runs")
    ui_records: list[logging.LogRecord] = []

    class UiHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            ui_records.append(record)

    ui = UiHandler()
    prefect_logger.addHandler(ui)
    old_level = prefect_logger.level
    prefect_logger.setLevel(logging.INFO)
    try:
        handler = configure_json_logging(tmp_path)
        adapter = logging.LoggerAdapter(prefect_logger, {"flow_run_id": "fr-9", "flow_name": "monitor-model"})
        attach_json_handler(handler, adapter)
        attach_json_handler(handler, "prefect.flow_runs")  # twice: still one
        with log_context(model="churn"):
            adapter.info("Finished in state Completed()")
        handler.flush()
        [line] = _lines(tmp_path)
        assert line["logger"] == "prefect.flow_runs"
        assert line["flow_run_id"] == "fr-9"  # from the record, as Prefect's adapter sets it
        assert line["model"] == "churn"
        assert line["fields"] == {"flow_name": "monitor-model"}
        assert [r.getMessage() for r in ui_records] == ["Finished in state Completed()"]
        assert prefect_logger.handlers.count(handler) == 1
        remove_json_logging()
        assert handler not in prefect_logger.handlers  # detached everywhere it was attached
    finally:
        prefect_logger.removeHandler(ui)
        prefect_logger.setLevel(old_level)


def test_exception_is_logged_and_redacted(tmp_path: Path) -> None:
    handler = configure_json_logging(tmp_path)
    try:
        raise RuntimeError("POST https://hooks.slack.com/services/T000/B000/XXXXSECRET failed")
    except RuntimeError:
        logging.getLogger("watchkeeper.alerting").exception("send failed")
    handler.flush()
    [line] = _lines(tmp_path)
    assert "Traceback" in line["exception"]
    assert "XXXXSECRET" not in line["exception"]
    assert "https://hooks.slack.com/***" in line["exception"]


def test_rotation_keeps_every_line_valid(tmp_path: Path) -> None:
    handler = configure_json_logging(tmp_path, max_bytes=2000, backups=3)
    log = logging.getLogger("watchkeeper.rotate")
    for i in range(60):
        log.info("line %d", i, extra={"event": "tick"})
    handler.flush()
    files = sorted(tmp_path.glob(LOG_FILE_NAME + "*"))
    assert [f.name for f in files] == [LOG_FILE_NAME] + [f"{LOG_FILE_NAME}.{i}" for i in (1, 2, 3)]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(f.stat().st_size <= 2000 for f in files)
    assert lines and all(line["event"] == "tick" for line in lines)
    assert "line 59" in {line["message"] for line in lines}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "posting to https://hooks.slack.com/services/T0001/B0001/abcDEF123 now",
            "posting to https://hooks.slack.com/*** now",
        ),
        ("db postgresql+psycopg://wk:s3cr3t@db:5432/state", "db postgresql+psycopg://wk:***@db:5432/state"),
        ("gateway https://user:pa55@gw.internal:9091", "gateway https://user:***@gw.internal:9091"),
        ("slack token xoxb-1234-5678-abcdefgh and xoxp-99-aa", "slack token *** and ***"),
        ("header Authorization: Bearer eyJhbGciOi.J9.abc-_", "header Authorization: Bearer ***"),
        ("GET /x?user=a&password=hunter2&token=t0k3n&page=2", "GET /x?user=a&password=***&token=***&page=2"),
        ("api_key=AKIA123 secret=shh", "api_key=*** secret=***"),
        # Ordinary text is untouched.
        ("drift share 0.25 on 3 columns; url http://host:8080/healthz", None),
    ],
)
def test_redact_patterns(text: str, expected: str | None) -> None:
    assert redact(text) == (text if expected is None else expected)


def test_registered_secrets_are_redacted_everywhere(tmp_path: Path) -> None:
    handler = configure_json_logging(tmp_path)
    webhook = "https://example.org/hooks/team-42/abcdef"
    assert register_secret(webhook)
    assert register_secret("tok-7f3a9c")
    assert not register_secret("abc")  # too short to tell from ordinary text: not registered
    assert not register_secret(None)
    log = logging.getLogger("watchkeeper.alerting")
    log.info(
        "sending to %s",
        webhook,
        extra={
            "url": webhook,
            "encoded": "u=https%3A%2F%2Fexample.org%2Fhooks%2Fteam-42%2Fabcdef",
            "nested": {"list": ["x tok-7f3a9c y"], "api_token": "anything-at-all"},
            "password": "pw",
        },
    )
    handler.flush()
    raw = (tmp_path / LOG_FILE_NAME).read_text()
    assert "abcdef" not in raw and "tok-7f3a9c" not in raw and "anything-at-all" not in raw
    [line] = _lines(tmp_path)
    assert line["message"] == "sending to ***"
    assert line["fields"] == {
        "url": "***",
        "encoded": "u=***",
        "nested": {"list": ["x *** y"], "api_token": "***"},  # a secret-like key hides any value
        "password": "***",
    }


def test_redacting_filter_for_other_handlers() -> None:
    register_secret("hunter2-long")
    record = logging.LogRecord("prefect", logging.INFO, __file__, 1, "login with %s", ("hunter2-long",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "login with ***"


def test_install_redaction_covers_other_handlers_of_run_loggers() -> None:
    # Prefect's UI handler sits on its run loggers; a logger filter redacts before any handler runs.
    run_logger = logging.getLogger("prefect.task_runs")
    seen: list[str] = []

    class UiHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    ui = UiHandler()
    run_logger.addHandler(ui)
    old_level = run_logger.level
    run_logger.setLevel(logging.INFO)
    try:
        install_redaction()
        install_redaction()  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in run_logger.filters) == 1
        run_logger.info("token %s", "xoxb-1234-abcd")
        assert seen == ["token ***"]
    finally:
        run_logger.removeHandler(ui)
        run_logger.setLevel(old_level)
        for f in [f for f in run_logger.filters if isinstance(f, RedactingFilter)]:
            run_logger.removeFilter(f)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.text(alphabet="abcdefXYZ0123456789-_/:.", min_size=4, max_size=30),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    clear_secrets()
    register_secret(secret)
    assert secret not in redact(before + secret + after + secret)


def test_redaction_is_linear_on_long_runs_of_letters() -> None:
    # The URL-password pattern used to try a scheme at every letter of a run: 40 KB took 11 s, and
    # the spool and the JSON log redact everything they write (a 10 MB category value among it).
    import time

    text = "a" * 400_000 + " postgres://u:s3cret@db/x " + "b9" * 200_000
    started = time.perf_counter()
    out = redact(text)
    assert time.perf_counter() - started < 2.0
    assert "s3cret" not in out and "postgres://u:***@db/x" in out
