"""Prefect's temporary local server, started early by the `watchkeeper` CLI.

Prefect starts it (a uvicorn subprocess, then a wait on its health endpoint) at a flow's first API
call, which comes after the flow files' imports. The CLI starts it before those imports instead, so
the server's process boots on another core while the CLI's process imports. Here, not in
`watchkeeper.cli`, because the library never imports Prefect.
"""

from __future__ import annotations

import threading


def start_temporary_server() -> threading.Thread | None:
    """Start Prefect's temporary local server now, in the background, when the run will use one.

    Prefect starts it (a uvicorn subprocess, then waits on its health endpoint) at the flow's first
    API call, after the flow files' imports; started here, its process boots on another core while
    this one imports. It is Prefect's own server object: the flow's client finds it running and
    Prefect stops it at exit, as usual. Join the thread before the flow starts.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    # Imported here, not in the thread: the flow's imports run while the thread waits. Prefect's
    # logging is configured first (as importing a flow file would) so the server's line shows.
    import prefect.main  # noqa: F401
    from prefect.server.api.server import SubprocessASGIServer

    # A failed start resets the server object: the flow's own start then raises Prefect's error.
    thread = threading.Thread(target=SubprocessASGIServer().start, name="prefect-server-start", daemon=True)
    thread.start()
    return thread
