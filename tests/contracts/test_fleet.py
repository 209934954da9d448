"""`deployments/prefect.yaml` is what `configs/models/*.yaml` generate: adding a model is one file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from watchkeeper.cli import main
from watchkeeper.deployments import (
    DEPLOYMENTS,
    check_prefect_yaml,
    discover_model_configs,
    render_prefect_yaml,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_prefect_yaml_is_generated_from_the_configs() -> None:
    diff = check_prefect_yaml(ROOT)
    assert diff == "", f"run `watchkeeper deployments`:\n{diff}"


def _fleet(tmp_path: Path, names: list[str]) -> Path:
    (tmp_path / "configs" / "models").mkdir(parents=True)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "monitor.py").write_text("")  # what the CLI recognises as a project
    source = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    for name in names:
        config = {**source, "model": {**source["model"], "name": name}}
        (tmp_path / "configs" / "models" / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_a_new_config_adds_its_six_deployments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fleet(tmp_path, ["churn", "credit-risk", "fraud"])
    assert discover_model_configs(root) == [
        f"configs/models/{n}.yaml" for n in ("churn", "credit-risk", "fraud")
    ]
    assert main(["--project-dir", str(root), "deployments"]) == 0
    written = yaml.safe_load((root / "deployments/prefect.yaml").read_text())
    names = [d["name"] for d in written["deployments"]]
    assert len(names) == 3 * len(DEPLOYMENTS) == len(set(names))
    fraud = {d["name"]: d for d in written["deployments"] if d["name"].startswith("fraud-")}
    assert fraud["fraud-daily"]["parameters"] == {"config_path": "configs/models/fraud.yaml"}
    assert fraud["fraud-daily"]["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]
    assert fraud["fraud-daily"]["tags"] == ["watchkeeper", "fraud", "monitor"]
    # The YAML anchor resolves: every deployment runs on the process pool with telemetry off.
    assert all(d["work_pool"]["name"] == "watchkeeper-process" for d in written["deployments"])
    assert main(["--project-dir", str(root), "deployments", "--check"]) == 0

    # One more YAML file: the committed deployments are stale until regenerated.
    shutil.copy(root / "configs/models/fraud.yaml", root / "configs/models/spam.yaml")
    spam = yaml.safe_load((root / "configs/models/spam.yaml").read_text())
    spam["model"]["name"] = "spam"
    (root / "configs/models/spam.yaml").write_text(yaml.safe_dump(spam))
    capsys.readouterr()
    assert main(["--project-dir", str(root), "deployments", "--check"]) == 1
    out = capsys.readouterr().out
    assert "+  - name: spam-daily" in out and "out of date" in out


def test_two_configs_for_one_model_are_refused(tmp_path: Path) -> None:
    root = _fleet(tmp_path, ["churn"])
    shutil.copy(root / "configs/models/churn.yaml", root / "configs/models/churn-copy.yaml")
    with pytest.raises(ValueError, match="model 'churn' is configured twice"):
        render_prefect_yaml(root)
