"""Screenshots of the Prefect and MLflow UIs and the dashboard after `watchkeeper demo`.

Drives headless Chromium over the DevTools protocol (the `websockets` package Prefect already
installs): opens each page, waits until it has settled (single-page apps fetch their data after
load, which `--screenshot` does not wait for), optionally runs JavaScript on it (a click, typing into
a search box, scrolling), waits again, and writes a PNG.

    python docs/screenshots/capture.py OUT_DIR URL=NAME[@WIDTHxHEIGHT] [settle:SECONDS] [js:EXPRESSION] ...

`settle:` and `js:` apply to the page named before them (`js:` may repeat; each is followed by a
5-second wait). A page without `js:` is captured whole, beyond its viewport; one with `js:` at its
viewport's size.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _capture(
    ws_url: str, url: str, out: Path, *, width: int, height: int, settle_s: float, scripts: list[str]
) -> None:
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params: object) -> dict:
            msg_id = next(ids)
            await ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == msg_id:
                    return reply.get("result", {})

        await call("Page.enable")
        await call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        await call("Page.navigate", url=url)
        await asyncio.sleep(settle_s)
        for script in scripts:
            await call("Runtime.evaluate", expression=script, awaitPromise=True)
            await asyncio.sleep(5)
        # Capturing beyond the viewport resizes the page, which resets what a script opened (MLflow
        # collapses an expanded description again): such a page is captured at its viewport's size.
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=not scripts)
        out.write_bytes(base64.b64decode(shot["data"]))


Page = tuple[str, Path, int, int, float, list[str]]


def capture(pages: list[Page]) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                        targets = [t for t in json.load(r) if t["type"] == "page"]
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            ws_url = targets[0]["webSocketDebuggerUrl"]
            for url, out, width, height, settle_s, scripts in pages:
                asyncio.run(
                    _capture(ws_url, url, out, width=width, height=height, settle_s=settle_s, scripts=scripts)
                )
                print(f"{out} <- {url}")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    specs: list[Page] = []
    for arg in sys.argv[2:]:
        if arg.startswith("settle:"):
            url, out, width, height, _, scripts = specs[-1]
            specs[-1] = (url, out, width, height, float(arg.removeprefix("settle:")), scripts)
        elif arg.startswith("js:"):
            specs[-1][5].append(arg.removeprefix("js:"))
        else:  # URL=NAME or URL=NAME@WIDTHxHEIGHT
            url, _, name = arg.rpartition("=")
            name, _, size = name.partition("@")
            width, _, height = (size or "1600x1000").partition("x")
            specs.append((url, target / name, int(width), int(height), 30.0, []))
    capture(specs)
