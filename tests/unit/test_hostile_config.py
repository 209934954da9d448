"""Config cannot hurt the host (issue 30, part 6).

Found by hand: a 469-byte YAML of nested aliases ("billion laughs") exhausted memory while `${VAR}`
expansion copied every alias into a tree; a template width with a newline as its fill character
(`{value:\\n>8000000}`) slipped past the width cap (+31 MB in the state DB per run); `file://` and
`ftp://` webhook URLs were refused only when sending, then retried every run; errors quoted the
file's content (PyYAML's snippet, pydantic's input values).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchkeeper.alerting.templates import MAX_RENDERED_CHARS, MAX_WIDTH, check_template, render_template
from watchkeeper.config import ConfigError, load_config, load_config_file
from watchkeeper.configbase import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

REPO = Path(__file__).resolve().parents[2]
SECRET = "PLANTED-s3cr3t-9f8e7d"

# Nine levels of nine aliases: 9^9 ≈ 387 million strings once expanded, in under 500 bytes. The
# leaves hold a `${VAR}`, which is what the old expansion copied into a tree.
BOMB = "a: &a ['${HOME}','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def _base() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    return config


def _write(tmp_path: Path, config: dict[str, Any] | str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_billion_laughs_is_refused_at_the_alias_fast_and_in_bounded_memory(tmp_path: Path) -> None:
    path = _write(tmp_path, BOMB)
    assert len(BOMB.encode()) < 500
    # In a child process, so that a regression exhausts its memory and its time, not the test run's.
    probe = (
        "import json, sys, time, tracemalloc\n"
        "from watchkeeper.config import ConfigError, load_config\n"
        "tracemalloc.start(); t = time.perf_counter()\n"
        "try:\n    load_config(sys.argv[1]); error = None\n"
        "except ConfigError as exc:\n    error = str(exc)\n"
        "print(json.dumps({'error': error, 'seconds': time.perf_counter() - t,"
        " 'peak': tracemalloc.get_traced_memory()[1]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    # The 6th line's first alias is the one that crosses the budget: 9^5 + what came before.
    assert result["error"].startswith(f"{path}: line 6, column 8: not valid YAML: an alias standing for")
    assert f"past {MAX_YAML_NODES} nodes" in result["error"]
    assert result["seconds"] < 2.0
    assert result["peak"] < 20 * 2**20  # bytes allocated while loading; the bomb would need GBs


def test_aliases_within_the_budget_still_load_and_expand_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anchors are ordinary YAML: a shared source definition must keep working.
    monkeypatch.setenv("WK_DATA", str(tmp_path))
    text = (REPO / "configs/models/credit-risk.yaml").read_text()
    config = yaml.safe_load(text)
    config["sources"]["inference_logs"]["path"] = "${WK_DATA}/logs.parquet"
    body = yaml.safe_dump(config).replace("inference_logs:", "inference_logs: &logs", 1)
    body += "x-extra: &extra [*logs, *logs]\n"
    path = _write(tmp_path, body)
    assert "unknown key" in _error(path)  # only the unknown top-level key is wrong
    loaded = load_config(_write(tmp_path, body.replace("x-extra: &extra [*logs, *logs]\n", ""), "ok.yaml"))
    assert loaded.sources.inference_logs.path == f"{tmp_path}/logs.parquet"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An alias inside the node it names: an endless document.
        (
            "a: &x [1, *x]\n",
            "line 1, column 11: not valid YAML: an alias refers to the node that contains it",
        ),
        # Deep nesting would hit Python's recursion limit in the composer.
        ("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), f"nested deeper than {MAX_YAML_DEPTH}"),
        # Python's own limits raise plain ValueErrors inside PyYAML: still a config error, placed.
        ("a: " + "1" * 5000, "line 1, column 4: not valid YAML: cannot read this value (ValueError"),
        ("a: 2024-13-45", "line 1, column 4: not valid YAML: cannot read this value (ValueError"),
    ],
)
def test_endless_deep_or_unreadable_documents_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(_write(tmp_path, text))


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match=f"larger than {MAX_YAML_BYTES} bytes"):
        load_config_file(path)  # also before hashing it


@pytest.mark.parametrize(
    "spec",
    [
        "\n>8000000",  # the newline fill the old regex missed
        "x^8000000",
        "0300",  # zero padding, too wide
        ">" + "9" * 5000,  # more digits than int() accepts
        "\n>.500f",  # a newline fill, and precision past its cap
    ],
)
def test_a_width_behind_any_fill_character_is_capped(spec: str) -> None:
    with pytest.raises(ValueError, match="exceeds"):
        check_template(f"p95 {{value:{spec}}}")
    # A template built in code (no load check) still renders short: the value, formatted plainly.
    assert render_template(f"{{value:{spec}}}", {"value": 1.0}, {}) == "1"


def test_the_newline_fill_is_refused_at_load_naming_rule_and_spec(tmp_path: Path) -> None:
    config = _base()
    config["alerts"]["rules"] = [
        {
            "name": "lat",
            "condition": "serving.latency_p95_ms > 250",
            "annotations": {"summary": "{value:\n>8000000}"},
        }
    ]
    text = _error(_write(tmp_path, config))
    assert "alerts.rules.0.annotations.summary (rule 'lat')" in text
    assert r"format '\n>8000000': width exceeds " + str(MAX_WIDTH) in text


def test_template_grammar_is_pythons() -> None:
    check_template("{value:\n^12.3f} and {{literal}}")  # a newline fill within the caps is fine
    assert render_template("{{value}} {value:.1f}", {"value": 2.0}, {}) == "{value} 2.0"
    for bad, why in [("{value!r}", "conversions"), ("{value:{threshold}}", "nested"), ("{value", "brace")]:
        with pytest.raises(ValueError, match=why):
            check_template(bad)
    many = "{value:>200}" * 100
    assert len(render_template(many, {"value": 1.0}, {})) == MAX_RENDERED_CHARS


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "'file'"),
        (f"ftp://user:{SECRET}@example.com/x", "'ftp'"),
        (f"//example.com/{SECRET}", "no scheme"),
    ],
)
def test_a_non_http_webhook_url_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, scheme: str
) -> None:
    monkeypatch.setenv("WK_HOOK", url)
    config = _base()
    config["alerts"]["channels"] = [{"type": "webhook", "url_env": "WK_HOOK"}]
    text = _error(_write(tmp_path, config))
    assert "environment variable WK_HOOK" in text and scheme in text and "http or https only" in text
    assert url not in text and SECRET not in text


def test_a_slack_base_url_must_be_http(tmp_path: Path) -> None:
    config = _base()
    config["alerts"]["channels"] = [
        {"type": "slack", "token_env": "T", "channel": "C", "base_url": "file:///var/run/"}
    ]
    assert "`base_url`: scheme 'file' is not allowed" in _error(_write(tmp_path, config))


def test_an_error_never_quotes_an_expanded_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK_SECRET", SECRET + " with spaces")
    config = _base()
    config["model"]["name"] = "${WK_SECRET}"  # fails the name pattern
    config["window"] = {"size": "1d", "label_lag": "${WK_SECRET}"}  # not a duration
    text = _error(_write(tmp_path, config))
    assert "model.name" in text and "window.label_lag" in text and "(line " in text
    assert SECRET not in text


def test_errors_about_a_system_like_file_quote_none_of_its_lines(tmp_path: Path) -> None:
    # /etc/shadow's lines end in ":", so YAML reads each as a key; a config path pointed at it
    # (or at any `key: value` file) gets one "unknown key" error per line.
    lines = [f"root:{SECRET}:20228:0:99999:7:::", "daemon:*:20228:0:99999:7:::", f"db_password: {SECRET}"]
    text = _error(_write(tmp_path, "\n".join(lines) + "\n"))
    assert "? (line 1, column 1)" not in text  # the key path shows "?" for a key that is not a name
    assert "  - ?: unknown key (check for a typo) (line 1, column 1)" in text
    assert "  - db_password: unknown key (check for a typo) (line 3, column 1)" in text
    assert SECRET not in text and "root:" not in text and "20228" not in text


def test_a_yaml_error_names_the_position_without_the_snippet(tmp_path: Path) -> None:
    # PyYAML appends the offending line with a caret; that line may be a secret.
    path = _write(tmp_path, f'model:\n  name: "{SECRET}\n  token: [{SECRET}\n')
    text = _error(path)
    assert text.startswith(f"{path}: line ") and "not valid YAML" in text
    assert SECRET not in text and "^" not in text


def test_an_unset_variable_names_its_key_and_line(tmp_path: Path) -> None:
    config = _base()
    config["tracking"] = {"tracking_uri": "${WK_SURELY_UNSET_VAR}"}
    path = _write(tmp_path, config)
    text = _error(path)
    assert text.startswith(
        f"{path}: tracking.tracking_uri: environment variable WK_SURELY_UNSET_VAR is not set"
    )
    assert "(line " in text
