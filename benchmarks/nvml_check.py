"""Run the real NVML path of `watchkeeper.health.sample_health` and print what it sees.

Meant for a machine with an NVIDIA GPU, where the unit tests can only use a stand-in ``pynvml``:

    PYTHONPATH=src python benchmarks/nvml_check.py [--interval 1.0] [--load-gpu]

Needs only psutil, nvidia-ml-py and pydantic (no ``pip install -e .``: the script puts ``src/`` on
the path itself). Prints one JSON line: the HealthReport (`to_dict()`), the GPU state, how long the
sample took, and which heavy libraries importing ``watchkeeper.health`` pulled in (should be none).
``--load-gpu`` keeps the GPU busy during the sample with PyTorch when it is installed, so that
utilization, power and memory readings are non-trivial.

Exit status: 0 when the sample ran, whether or not a GPU is present ("no GPU" is printed on stderr
then); 1 when importing ``watchkeeper.health`` pulled in a heavy library; 2 when sampling failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("mlflow", "prefect", "evidently", "great_expectations", "pandas", "sklearn", "sqlalchemy", "torch")


def _busy_gpu(stop: threading.Event, ready: threading.Event) -> str | None:
    """Matrix products on the GPU until `stop`; returns why not, when it cannot."""
    try:
        import torch
    except ImportError:
        ready.set()
        return "torch not installed"
    if not torch.cuda.is_available():
        ready.set()
        return "torch sees no CUDA device"
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ready.set()
    while not stop.is_set():
        for _ in range(20):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval in seconds")
    parser.add_argument("--load-gpu", action="store_true", help="keep the GPU busy with torch while sampling")
    args = parser.parse_args()

    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    before = set(sys.modules)
    t0 = time.perf_counter()
    from watchkeeper.health import HealthConfig, sample_health

    import_s = time.perf_counter() - t0
    pulled = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(HEAVY))

    load_note = None
    stop, ready = threading.Event(), threading.Event()
    loader = None
    if args.load_gpu:
        result: dict[str, str | None] = {}
        loader = threading.Thread(target=lambda: result.update(why=_busy_gpu(stop, ready)), daemon=True)
        loader.start()
        ready.wait(timeout=120)
        time.sleep(0.5)  # let utilization counters catch up with the load

    t1 = time.perf_counter()
    try:
        report = sample_health(HealthConfig(gpu=True), interval_s=args.interval)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 2
    finally:
        stop.set()
        if loader is not None:
            loader.join(timeout=30)
            load_note = result.get("why") or "torch matmul load"
    sample_s = time.perf_counter() - t1

    out = {
        "gpu_state": report.gpu.state,
        "gpu_detail": report.gpu.detail,
        "import_health_s": round(import_s, 3),
        "sample_s": round(sample_s, 3),
        "heavy_modules_imported": pulled,
        "gpu_load": load_note,
        "report": report.to_dict(),
    }
    print(json.dumps(out))
    if report.gpu.state == "no GPU":
        print(f"no GPU: {report.gpu.detail}", file=sys.stderr)
    if pulled:
        print(f"importing watchkeeper.health pulled in {pulled}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
