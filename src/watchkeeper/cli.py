"""The `watchkeeper` command.

Subcommands that run flows (`demo`, `monitor`, `backfill`, `rollback`, `serve`) start them by
entrypoint (``flows/monitor.py:monitor``), as Prefect's workers do: the flow files live in the
project directory (a checkout of this repository, not part of the installed package), found from
``--project-dir``, ``WATCHKEEPER_PROJECT_DIR``, the checkout beside an editable install, or the
current directory.

A config or input error (a bad key, a window off the calendar or in the future, an unreadable
source) prints one message — the file, the key path, what was expected — and exits with status 2;
`--debug` shows the traceback instead. Configs and windows are checked before a flow starts, so the
message is not buried in a flow run's logs.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.timeutil import parse_utc

if TYPE_CHECKING:
    from watchkeeper.config import MonitorConfig

FLOW_ENTRYPOINTS = {
    "demo": "flows/demo.py:demo",
    "monitor": "flows/monitor.py:monitor",
    "backfill": "flows/backfill.py:backfill",
    "rollback": "flows/rollback.py:rollback",
    "serve": "flows/serve.py:serve_all",
}
FLOW_COMMANDS = frozenset(FLOW_ENTRYPOINTS)
NEW_HISTORY_HELP = (
    "start a new history deliberately when the state database or the MLflow store lost theirs "
    "(emptied, removed, restored from an older backup); recorded in the audit trail"
)
HINDSIGHT_HELP = (
    "join every label on disk, also those that arrived after each window was judged (analysis); "
    "by default a window is judged with the labels that had arrived by its run's time"
)


def project_dir(explicit: str | None = None) -> Path:
    """The directory holding `flows/`, `tasks/` and `configs/` (see the module docstring)."""
    candidates = [Path(p) for p in (explicit, os.environ.get("WATCHKEEPER_PROJECT_DIR")) if p]
    candidates += [Path(__file__).resolve().parents[2], Path.cwd()]
    for candidate in candidates:
        if (candidate / "flows" / "monitor.py").exists():
            return candidate.resolve()
    raise SystemExit(
        "cannot find the project's flows/ directory: run `watchkeeper` from a Watchkeeper checkout, "
        "or pass --project-dir (or set WATCHKEEPER_PROJECT_DIR)"
    )


def load_entrypoint(entrypoint: str, root: Path) -> Callable[..., Any]:
    """The object at ``path/to/file.py:name`` under `root`, loaded the way Prefect loads a
    deployment's entrypoint: the project root is the import root of the flow files (they import
    `tasks.*` and other flows by their package path)."""
    path, _, name = entrypoint.rpartition(":")
    module_name = path.removesuffix(".py").replace("/", ".")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, root / path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {entrypoint} from {root}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    target: Callable[..., Any] = getattr(module, name)
    return target


def start_temporary_server(root: Path) -> Any:
    """Prefect's temporary local server, started now when the run will use one (else None); see
    `tasks/temporary_server.py`. The one already running is reused."""
    return load_entrypoint("tasks/temporary_server.py:start_temporary_server", root)()


def start_flow(
    args: argparse.Namespace,
    command: str,
    *call_args: Any,
    warm: Sequence[str] = (),
    page: bool = False,
    **kwargs: Any,
) -> Any:
    """Run the command's flow, against Prefect's temporary server when no server is configured.
    `warm`: libraries the run will import anyway, imported while that server is still starting (time
    this process would otherwise spend waiting). `page`: the run renders Evidently's page; the page
    process starts now and imports Evidently on another core (`watchkeeper.drift.page_process`)."""
    root = project_dir(args.project_dir)
    server = start_temporary_server(root)
    if page:
        # At a lower priority: it takes the CPU that the server's boot and this process leave.
        from watchkeeper.drift.page_process import start_page_process

        start_page_process()
    flow = load_entrypoint(FLOW_ENTRYPOINTS[command], root)
    if server is not None:
        for name in warm:
            importlib.import_module(name)
        server.wait_ready()
    # What the imports allocated lives as long as the process: frozen, later collections skip it.
    gc.freeze()
    gc.enable()
    if not getattr(args, "debug", False):
        # Prefect logs a failed task's or flow's traceback; for the user's errors `main` prints the
        # one message instead (the log lines stay, without their tracebacks).
        quiet = _QuietUserErrors()
        for handler in _console_handlers():
            handler.addFilter(quiet)
    with server.use() if server is not None else contextlib.nullcontext():
        return flow(*call_args, **kwargs)


class _QuietUserErrors(logging.Filter):
    """Drops the traceback from log records about a config or input error (kept with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], user_errors()):
            record.exc_info, record.exc_text = None, None
        return True


def _console_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    return [h for lg in loggers for h in lg.handlers]


def parse_since(text: str) -> datetime:
    """``7d`` / ``12h`` ago, or an ISO date-time."""
    from watchkeeper.configbase import parse_duration

    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        return parse_utc(text)


def quiet_prefect_console() -> None:
    """A readable console for the demo: Prefect's per-task INFO lines go to the Prefect UI (when one
    is used) and to the JSON log file, not the terminal; the demo prints one line per day and the
    alert notifications. Must happen before Prefect is imported."""
    for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "WARNING")


def cmd_demo(args: argparse.Namespace) -> int:
    quiet_prefect_console()
    start_flow(
        args,
        "demo",
        page=True,
        days=args.days,
        rows_per_day=args.rows_per_day,
        seed=args.seed,
        fresh=args.fresh,
    )
    return 0


class UsageError(ValueError):
    """A command-line value is wrong; the message names the option."""


def parse_time_option(option: str, text: str | None) -> datetime | None:
    try:
        return parse_utc(text)
    except ValueError:
        raise UsageError(
            f"{option}: expected an ISO date or date-time (2026-03-01, 2026-03-01T06:00Z), got {text!r}"
        ) from None


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors that are the user's to fix (config, input, window, a history that does not match
    its anchor, a damaged or full file of theirs: each message names the file and what to do): one
    message, exit 2."""
    from watchkeeper.anchor import CheckpointError, HistoryError
    from watchkeeper.config import ConfigError
    from watchkeeper.sources import SourceError
    from watchkeeper.state import StateMissingError
    from watchkeeper.storage import StorageError
    from watchkeeper.timegrid import FutureWindowError
    from watchkeeper.windows import DataError

    return (
        UsageError,
        ConfigError,
        SourceError,
        DataError,
        FutureWindowError,
        HistoryError,
        StateMissingError,
        CheckpointError,
        StorageError,
    )


def check_window(config_path: str, window_end: datetime | None) -> MonitorConfig:
    """Fail before the flow starts on a bad config, a window end off the calendar or in the future."""
    from watchkeeper.config import load_config
    from watchkeeper.timegrid import FutureWindowError
    from watchkeeper.timeutil import utcnow
    from watchkeeper.windows import window_bounds

    config = load_config(config_path)
    try:
        start, end = window_bounds(window_end, config.window)
    except ValueError as exc:
        raise UsageError(f"--window-end: {exc}") from None
    if end > utcnow():
        raise FutureWindowError(
            f"--window-end: the window {start.isoformat()} → {end.isoformat()} has not ended yet; "
            "monitor it after its end"
        )
    return config


def cmd_monitor(args: argparse.Namespace) -> int:
    window_end = parse_time_option("--window-end", args.window_end)
    config = check_window(args.config, window_end)
    from watchkeeper.checks import slow_imports, uses_evidently_page

    report = start_flow(
        args,
        "monitor",
        args.config,
        window_end=window_end,
        hindsight=args.hindsight,
        new_history=args.new_history,
        warm=slow_imports(config),
        page=uses_evidently_page(config),
    )
    from watchkeeper.presentation import versions_label
    from watchkeeper.timeutil import iso_z

    # The window's name for people beside the ISO bounds and the versions as recorded.
    summary = {
        "window": report.window_name,
        "window_start": iso_z(report.window_start),
        "window_end": iso_z(report.window_end),
        "version": versions_label(report.model_versions),
        "model_versions": list(report.model_versions),
        "verdict": report.verdict.label,
        "reasons": report.reasons,
        "mlflow_run_id": report.mlflow_run_id,
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from watchkeeper.config import load_config
    from watchkeeper.windows import describe_uncovered_tail

    start, end = parse_time_option("--start", args.start), parse_time_option("--end", args.end)
    assert start is not None and end is not None
    from watchkeeper.checks import slow_imports, uses_evidently_page

    config = load_config(args.config)
    results = start_flow(
        args,
        "backfill",
        args.config,
        start,
        end,
        parallel=not args.sequential,
        hindsight=args.hindsight,
        new_history=args.new_history,
        warm=slow_imports(config),
        page=uses_evidently_page(config),
    )
    for row in results:
        print(f"{row.get('window') or row['window_end']}  {row['verdict']}")
    if not args.sequential:
        ahead = sum(row["prepared_ahead"] for row in results)
        print(f"{ahead} of {len(results)} window(s) prepared in parallel, the rest evaluated in their turn")
    tail = describe_uncovered_tail(config, start, end)
    if tail is not None:
        print(f"note: {tail}")
    return 0


def checkpoint_sources(args: argparse.Namespace, state_url: str) -> dict[str, list[Any]]:
    """Where `audit verify` looks for checkpoints: the JSON log beside the state database (or
    `--log-dir`), `--checkpoint` / `$WATCHKEEPER_AUDIT_CHECKPOINT` (a file or an http(s) URL), and
    with `--config` the model's latest anchored MLflow run."""
    import sqlalchemy as sa

    from watchkeeper import anchor
    from watchkeeper.state import state_dir

    if args.log_dir:
        log_dir = Path(args.log_dir)
    else:
        parsed = sa.engine.make_url(state_url)
        local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        log_dir = (Path(parsed.database or "").resolve().parent if local else state_dir()) / "logs"
    sources: dict[str, list[Any]] = {f"the JSON log {log_dir}": anchor.read_log_checkpoints(log_dir)}
    target = args.checkpoint or os.environ.get(anchor.CHECKPOINT_ENV)
    if target:
        sources[target] = anchor.read_checkpoints(target)
    for config_path in args.config or []:
        from watchkeeper.anchor import CheckpointError
        from watchkeeper.config import load_config

        config = load_config(config_path)
        root = project_dir(args.project_dir)
        tracking = load_entrypoint("tasks/tracking_tasks.py:open_tracking", root)(config.tracking)
        read = load_entrypoint("tasks/tracking_tasks.py:read_mlflow_history", root)
        try:
            history = read(tracking, config.experiment_name, config.model.name)
        except Exception as exc:  # MLflow unreachable, or refusing: the user's to fix, named
            raise CheckpointError(
                f"audit checkpoint: cannot read the MLflow anchors of {config_path} from "
                f"{anchor.tracking_location(tracking.uri)}: {type(exc).__name__}: {exc}"
            ) from None
        where = f"MLflow ({anchor.tracking_location(tracking.uri)}, {config.experiment_name})"
        sources[where] = [history.latest] if history.latest is not None else []
    return sources


def model_windows(args: argparse.Namespace, models: set[str]) -> dict[str, Any]:
    """The `window:` config of each of `models`, from `--config` files and the project's
    configs/models/ (best effort: a model without a config that loads is named in UTC)."""
    from watchkeeper.config import load_config

    paths = [Path(p) for p in args.config or []]
    with contextlib.suppress(SystemExit):  # not in a checkout: --config files only
        paths += sorted((project_dir(args.project_dir) / "configs" / "models").glob("*.y*ml"))
    found: dict[str, Any] = {}
    for path in paths:
        try:
            config = load_config(path)
        except Exception:
            continue
        if config.model.name in models:
            found.setdefault(config.model.name, config.window)
    return found


def audit_window_name(model: str, start: datetime | None, end: datetime | None, window: Any) -> str:
    """An audit entry's window by its name (`presentation.window_name`, in the model's calendar when
    its config is found); the model alone for an entry without a window."""
    from watchkeeper.presentation import window_name

    if end is None:
        return model
    if start is None and window is not None:
        with contextlib.suppress(ValueError):
            start, _ = window.calendar.window_ending(end)
    if start is None:
        return f"{model} window ending {end:%Y-%m-%d %H:%M} UTC"
    return window_name(model, start, end, window.timezone if window is not None else "UTC")


def cmd_audit(args: argparse.Namespace) -> int:
    from watchkeeper.state import default_state_url, open_existing_state

    if args.action in ("verify", "repair"):
        from watchkeeper import anchor

        # Never creates a database: a missing one is an error naming the file (exit 2).
        url = args.state_url or default_state_url()
        store = open_existing_state(url)
        if args.action == "repair":
            recreated = anchor.repair_triggers(store, actor=os.environ.get("USER", "unknown"))
            where = anchor.state_location(store)
            if recreated:
                print(
                    f"re-created audit triggers in {where}: {', '.join(recreated)} (recorded in the audit trail)"
                )
            else:
                print(f"audit triggers of {where} are all present; nothing to repair")
            return 0
        # Exit 1: the first entry changed, removed or forged (the hash chain, watchkeeper.audit), a
        # trail shorter than its latest checkpoint, or missing triggers.
        trail = anchor.verify_trail(store, checkpoint_sources(args, url))
        for line in trail.lines:
            print(line)
        for note in trail.notes:
            print(f"note: {note}", file=sys.stderr)
        return 0 if trail.ok else 1
    since = parse_since(args.since) if args.since else None
    rows = open_existing_state(args.state_url).read_audit(model=args.model, since=since)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("no audit entries")
        return 0
    windows = model_windows(args, {row["model"] for row in rows})
    names = [
        audit_window_name(row["model"], row["window_start"], row["window_end"], windows.get(row["model"]))
        for row in rows
    ]
    width = max(16, *(len(n) for n in names))
    for row, name in zip(rows, names, strict=True):
        reasons = "; ".join(row["reasons"])
        evidence = row["evidence"] if isinstance(row["evidence"], dict) else {}
        # An alert's entry says which rule at which severity: a warning and a critical of one rule
        # are two lines that must not read alike.
        rule = (
            f"{evidence['rule']}/{evidence.get('severity', '?')}  "
            if row["event"].startswith("alert.") and evidence.get("rule")
            else ""
        )
        print(
            f"{row['at']:%Y-%m-%d %H:%M:%S}  {name:<{width}}  {row['event']:<22} {row['decision'] or '-':<12} {rule}{reasons}"
        )
    return 0


def cmd_expectations_generate(args: argparse.Namespace) -> int:
    from watchkeeper.checks import suite_path
    from watchkeeper.config import load_config
    from watchkeeper.validation import SuiteExistsError, estimate_window_rows, generate_suite, write_suite
    from watchkeeper.windows import load_reference

    config = load_config(args.config)
    target = Path(args.output) if args.output else suite_path(config, args.config)
    if target is None:
        target = Path("configs/expectations") / f"{config.model.name}.yaml"
        print(
            f"expectations.suite is not set in {args.config}; writing {target} (reference it from the config)"
        )
    reference = load_reference(config)
    window_rows = args.window_rows or estimate_window_rows(
        reference, config.columns.timestamp, config.window.size
    )
    spec = generate_suite(
        reference, columns=config.columns, model_name=config.model.name, window_rows=window_rows
    )
    try:
        diff = write_suite(spec, target, force=args.force)
    except SuiteExistsError as exc:
        print(exc.diff or "")
        print(f"{target} exists and differs (diff above); review it, then re-run with --force to replace it")
        return 1
    print(diff or f"{target} is already up to date")
    print(f"wrote {len(spec.expectations)} expectations to {target}; review them before committing")
    return 0


def cmd_silence_add(args: argparse.Namespace) -> int:
    from watchkeeper.alerting import add_silence, parse_matchers
    from watchkeeper.configbase import parse_duration
    from watchkeeper.state import open_state

    until = datetime.now(UTC) + parse_duration(args.duration)
    silence_id = add_silence(
        open_state(), args.model, parse_matchers(args.match), until, args.comment, args.author
    )
    print(f"silence {silence_id} on {args.model} until {until:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_silence_list(args: argparse.Namespace) -> int:
    from watchkeeper.alerting import list_silences
    from watchkeeper.state import open_state

    silences = list_silences(open_state(), args.model, include_expired=args.all)
    if args.json:
        print(json.dumps([s.to_dict() for s in silences], default=str, indent=2))
    elif not silences:
        print("no silences")
    for s in silences if not args.json else []:
        d = s.to_dict()
        print(
            f"{d['id']}  {d['model']:<16} until {d['ends_at']}  {d['matchers']}  {d['comment']} ({d['author']})"
        )
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    from watchkeeper.alerting import expire_silence
    from watchkeeper.state import open_state

    if expire_silence(open_state(), args.id):
        print(f"silence {args.id} expired")
        return 0
    print(f"no active silence {args.id}")
    return 1


def cmd_rollback(args: argparse.Namespace) -> int:
    from watchkeeper.config import find_model_config

    result = start_flow(args, "rollback", find_model_config(args.model, args.configs))
    print(json.dumps(result, default=str, indent=2))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from watchkeeper.config import find_model_config

    root = project_dir(args.project_dir)
    configs = args.configs or str(root / "configs" / "models")
    write = load_entrypoint("tasks/dashboard_tasks.py:write_dashboard_file", root)
    since: Any = None
    if args.since:
        from watchkeeper.configbase import parse_duration

        try:
            since = parse_duration(args.since)  # before the latest window
        except ValueError:
            since = parse_utc(args.since)
    path = write(find_model_config(args.model, configs), since=since, out=args.out)
    print(f"dashboard of {args.model}: {path.as_uri()}")
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from watchkeeper.deployments import PREFECT_YAML, check_prefect_yaml, render_prefect_yaml

    root = project_dir(args.project_dir)
    target = root / PREFECT_YAML
    if args.check:
        diff = check_prefect_yaml(root, target)
        if diff:
            print(diff, end="")
            print(f"{target} is out of date with configs/models/: run `watchkeeper deployments`")
            return 1
        print(f"{target} matches configs/models/")
        return 0
    text = render_prefect_yaml(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {text.count(chr(10) + '  - name: ')} deployments to {target}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from watchkeeper.deployments import discover_model_configs

    root = project_dir(args.project_dir)
    configs = args.config or [str(root / p) for p in discover_model_configs(root)]
    start_flow(args, "serve", configs, only=tuple(args.only or ()), limit=args.limit)
    return 0


def _freeze_heap() -> None:
    gc.collect()  # what is garbage now is finalized as usual (SQLite connections close, WAL checkpointed)
    gc.freeze()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watchkeeper", description="Monitor ML models in production.")
    parser.add_argument(
        "--project-dir",
        help="the checkout holding flows/ and configs/ (default: $WATCHKEEPER_PROJECT_DIR, else the "
        "checkout watchkeeper is installed from with `pip install -e`, else the current directory)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="simulate 14 days of a credit-risk model and monitor them")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--rows-per-day", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fresh", action="store_true", help="replace a state directory the demo did not create")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("monitor", help="run the monitor flow once for a model config")
    p.add_argument("--config", required=True)
    p.add_argument("--window-end", help="ISO time; default: the last complete window")
    p.add_argument("--hindsight", action="store_true", help=HINDSIGHT_HELP)
    p.add_argument("--new-history", action="store_true", help=NEW_HISTORY_HELP)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("backfill", help="monitor every window between two times")
    p.add_argument("--config", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument(
        "--sequential",
        action="store_true",
        help="evaluate one window after another (default: prepared in parallel on the configured "
        "engine, then folded in window order; same results)",
    )
    p.add_argument("--hindsight", action="store_true", help=HINDSIGHT_HELP)
    p.add_argument("--new-history", action="store_true", help=NEW_HISTORY_HELP)
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("rollback", help="move the champion alias back to the previous champion")
    p.add_argument("--model", required=True)
    p.add_argument("--configs", default="configs/models", help="directory of model configs")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("serve", help="serve every deployment of prefect.yaml in this process (no work pool)")
    p.add_argument(
        "--config", action="append", help="model config (repeatable); default: configs/models/*.yaml"
    )
    p.add_argument("--only", action="append", help="serve only these deployments (e.g. daily, health)")
    p.add_argument("--limit", type=int, help="at most this many concurrent runs")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "deployments", help="write deployments/prefect.yaml from configs/models/*.yaml (six per model)"
    )
    p.add_argument(
        "--check", action="store_true", help="only say whether the file is up to date (exit 1 if not)"
    )
    p.set_defaults(func=cmd_deployments)

    p = sub.add_parser("dashboard", help="write a model's dashboard (one offline HTML page)")
    p.add_argument("--model", required=True)
    p.add_argument(
        "--since", help="e.g. 30d (before the latest window's end) or an ISO time (default: every window)"
    )
    p.add_argument("--out", help="the HTML file (default: <state dir>/dashboards/<model>.html)")
    p.add_argument("--configs", help="directory of model configs (default: configs/models of the project)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("expectations", help="Great Expectations suites")
    exp_sub = p.add_subparsers(dest="action", required=True)
    g = exp_sub.add_parser("generate", help="profile the reference data into a suite for review")
    g.add_argument("--config", required=True)
    g.add_argument("--output", help="default: the config's expectations.suite")
    g.add_argument(
        "--window-rows", type=int, help="typical rows per window (default: estimated from the reference)"
    )
    g.add_argument("--force", action="store_true", help="replace an existing (reviewed) suite")
    g.set_defaults(func=cmd_expectations_generate)

    p = sub.add_parser("silence", help="mute alerts for a while")
    sil = p.add_subparsers(dest="action", required=True)
    a = sil.add_parser("add", help="mute matching alerts of a model (model '*' = every model)")
    a.add_argument("--model", required=True)
    a.add_argument("--match", action="append", default=[], help="label=value (globs allowed), repeatable")
    a.add_argument("--for", dest="duration", required=True, help="e.g. 2h, 1d")
    a.add_argument("--comment", required=True)
    a.add_argument("--author", default=os.environ.get("USER", "unknown"))
    a.set_defaults(func=cmd_silence_add)
    ls = sil.add_parser("list", help="active and future silences")
    ls.add_argument("--model")
    ls.add_argument("--all", action="store_true", help="include expired ones")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_silence_list)
    ex = sil.add_parser("expire", help="end a silence now")
    ex.add_argument("id")
    ex.set_defaults(func=cmd_silence_expire)

    p = sub.add_parser(
        "audit",
        help="print the audit trail, verify it (`audit verify`: hash chain, latest checkpoint, "
        "triggers), or re-create missing triggers (`audit repair`, audited)",
    )
    p.add_argument("action", nargs="?", choices=["list", "verify", "repair"], default="list")
    p.add_argument(
        "--state-url", help="state database URL (default: $WATCHKEEPER_STATE_DB_URL or the state dir)"
    )
    p.add_argument("--model")
    p.add_argument("--since", help="e.g. 7d, 12h, or an ISO time")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--checkpoint",
        help="verify: an audit checkpoint file or http(s) URL (default: $WATCHKEEPER_AUDIT_CHECKPOINT)",
    )
    p.add_argument(
        "--log-dir", help="verify: the JSON log directory (default: logs/ beside a SQLite state database)"
    )
    p.add_argument(
        "--config",
        action="append",
        help="verify: also compare with this model's latest anchored MLflow run; list: name windows in "
        "its calendar, as configs/models/ does for the project's models (repeatable)",
    )
    p.set_defaults(func=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    apply_runtime_defaults()
    # At exit, the interpreter runs several full garbage collections while it tears modules down,
    # each walking every object the run's libraries left (pandas, GX, MLflow, Evidently, Prefect):
    # seconds after the work is done. `_freeze_heap` collects once (what is garbage then is
    # finalized as usual: SQLite connections close and checkpoint their WAL), then freezes the rest,
    # which those passes skip. Registered before the flow starts, it runs after Prefect's exit
    # handlers (the temporary server's stop): atexit is LIFO. Unregistered first: main() called
    # again in one process registers it once.
    atexit.unregister(_freeze_heap)
    atexit.register(_freeze_heap)
    args = build_parser().parse_args(argv)
    server = None
    if args.command in FLOW_COMMANDS:
        # No cyclic garbage collection while the libraries import (a second or more of collections
        # over objects that all live on): `start_flow` freezes them and turns it back on.
        gc.disable()
        if args.command == "demo":
            quiet_prefect_console()
        # Prefect's temporary server boots (5 s of CPU) on another core while this process imports
        # Prefect, checks the config and imports the flow files (tasks/temporary_server.py).
        server = load_entrypoint("tasks/temporary_server.py:launch_early", project_dir(args.project_dir))()
    try:
        return int(args.func(args))
    except Exception as exc:
        gc.enable()
        if server is not None and not server.announced:  # the command failed before its flow
            server.stop()
        if args.debug or not isinstance(exc, user_errors()):
            raise
        print(f"watchkeeper: error: {exc}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
