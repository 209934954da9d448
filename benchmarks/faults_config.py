"""Fault scenarios of issue 30, part 6: a config file cannot hurt the host.

Run through `benchmarks/faults.py` (`python benchmarks/faults.py --only config_`). Each scenario
writes a hostile config into the tmp dir and loads it with `load_config`, as every flow and the CLI
do: a "billion laughs" YAML (in a child process, with its time and peak memory), a template width
behind a newline fill, `file://` and `ftp://` webhook URLs in the env vars a channel names, errors
about a file holding a planted secret, and an oversized file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "PLANTED-s3cr3t-4c1d"

# Nine levels of nine aliases (9^9 strings once expanded), under 500 bytes, `${VAR}` at the leaves.
BOMB = "a: &a ['${HOME}','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)

_PROBE = """
import json, sys, time, tracemalloc
from watchkeeper.config import ConfigError, load_config
tracemalloc.start()
started = time.perf_counter()
try:
    load_config(sys.argv[1])
    error = None
except ConfigError as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.perf_counter() - started,
                  "peak": tracemalloc.get_traced_memory()[1]}))
"""


def _base() -> dict[str, Any]:
    import yaml

    config: dict[str, Any] = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    return config


def _load_error(path: Path) -> str | None:
    from watchkeeper.config import ConfigError, load_config

    try:
        load_config(path)
    except ConfigError as exc:
        return str(exc)
    return None


def _write(tmp: Path, name: str, config: dict[str, Any] | str) -> Path:
    import yaml

    path = tmp / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def billion_laughs(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.configbase import MAX_YAML_NODES

    path = _write(tmp, "bomb.yaml", BOMB)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=120, env=env
    )
    if done.returncode != 0:
        return "-", f"child exited {done.returncode}: {done.stderr.strip()[-200:]}", False
    result = json.loads(done.stdout.splitlines()[-1])
    error = result["error"] or "loaded"
    where = error.split(": not valid YAML")[0].removeprefix(f"{path}: ")
    ok = f"past {MAX_YAML_NODES} nodes" in error and result["seconds"] < 2 and result["peak"] < 20 * 2**20
    return (
        f"{len(BOMB.encode())}-byte alias bomb refused at the alias, < 2 s, < 20 MB",
        f"refused at {where} in {result['seconds']:.3f} s, peak {result['peak'] / 2**20:.1f} MB",
        ok,
    )


def newline_fill_width(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.alerting.templates import render_template

    config = _base()
    config["alerts"]["rules"] = [
        {
            "name": "lat",
            "condition": "serving.latency_p95_ms > 250",
            "annotations": {"summary": "p95 {value:\n>8000000}"},
        }
    ]
    error = _load_error(_write(tmp, "fill.yaml", config)) or "loaded"
    rendered = len(render_template("{value:\n>8000000}", {"value": 1.0}, {}))
    ok = "(rule 'lat')" in error and "width exceeds" in error and rendered < 10
    return (
        "{value:\\n>8000000} refused at load naming rule and spec; renders short if built in code",
        f"{'refused' if 'width exceeds' in error else error}; rendered {rendered} chars",
        ok,
    )


def webhook_schemes(tmp: Path) -> tuple[str, str, bool]:
    observed, ok = [], True
    for scheme, url in (("file", "file:///etc/passwd"), ("ftp", f"ftp://u:{SECRET}@example.com/")):
        os.environ["WK_FAULT_HOOK"] = url
        try:
            config = _base()
            config["alerts"]["channels"] = [{"type": "webhook", "url_env": "WK_FAULT_HOOK"}]
            error = _load_error(_write(tmp, f"{scheme}.yaml", config)) or "loaded"
        finally:
            del os.environ["WK_FAULT_HOOK"]
        refused = f"scheme {scheme!r} is not allowed" in error and "WK_FAULT_HOOK" in error
        quiet = url not in error and SECRET not in error
        ok = ok and refused and quiet
        observed.append(
            f"{scheme}:// {'refused at load' if refused else 'LOADED'}{'' if quiet else ' (URL quoted)'}"
        )
    return "file:// and ftp:// refused at load (never queued), URL not quoted", ", ".join(observed), ok


def errors_quote_nothing(tmp: Path) -> tuple[str, str, bool]:
    os.environ["WK_FAULT_SECRET"] = f"{SECRET} and more"
    try:
        config = _base()
        config["model"]["name"] = "${WK_FAULT_SECRET}"
        expanded = _load_error(_write(tmp, "expanded.yaml", config)) or ""
    finally:
        del os.environ["WK_FAULT_SECRET"]
    shadow = (
        _load_error(_write(tmp, "shadow.yaml", f"root:{SECRET}:20228:0:99999:7:::\npw: {SECRET}\n")) or ""
    )
    syntax = _load_error(_write(tmp, "syntax.yaml", f'model:\n  name: "{SECRET}\n  x: [{SECRET}\n')) or ""
    leaks = [n for n, e in (("expanded", expanded), ("shadow", shadow), ("syntax", syntax)) if SECRET in e]
    positioned = sum("line " in e for e in (expanded, shadow, syntax))
    return (
        "3 bad files: each error has file and line, none quotes the planted secret",
        f"{positioned}/3 with a position, quoted in {leaks or 'none'}",
        positioned == 3 and not leaks and all((expanded, shadow, syntax)),
    )


def oversized_file(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.config import ConfigError, load_config_file
    from watchkeeper.configbase import MAX_YAML_BYTES

    path = tmp / "big.yaml"
    with path.open("w") as handle:
        handle.write("# padding\n" * (8 * MAX_YAML_BYTES // 10))
    try:
        load_config_file(path)
        observed = "loaded"
    except ConfigError as exc:
        observed = str(exc).removeprefix(f"{path}: ")
    finally:
        path.unlink()
    return f"an 8 MiB config refused (limit {MAX_YAML_BYTES} bytes)", observed, "larger than" in observed


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "config_billion_laughs": billion_laughs,
    "config_newline_fill_width": newline_fill_width,
    "config_webhook_file_ftp": webhook_schemes,
    "config_errors_quote_nothing": errors_quote_nothing,
    "config_oversized_file": oversized_file,
}
