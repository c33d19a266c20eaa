"""`journeylake dashboard --serve`: the page over HTTP on 127.0.0.1, rebuilt when its source
tables change.

No Spark here: the job hands in two callables, one that reads the source tables' Delta
versions and one that rebuilds the page from those versions. The server reads the page file on
every request, and the job replaces that file atomically, so a request never sees half a page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("journeylake.dashboard")

HOST = "127.0.0.1"  # the page shows business numbers and has no login: never all interfaces
Versions = Mapping[str, int | None]


class _PageHandler(BaseHTTPRequestHandler):
    server: DashboardServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        # Only the page itself: the folder it sits in is not served.
        if self.path.split("?", 1)[0] not in ("/", "/index.html"):
            self.send_error(HTTPStatus.NOT_FOUND, "only / is served")
            return
        try:
            body = self.server.page.read_bytes()
        except FileNotFoundError:
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "the page is not built yet")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # a reload shows the latest build
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        log.debug("%s %s", self.address_string(), format % args)


class DashboardServer(ThreadingHTTPServer):
    """Serves one file at / on 127.0.0.1:`port` (0: a free port, see `url`)."""

    daemon_threads = True

    def __init__(self, page: Path, port: int) -> None:
        super().__init__((HOST, port), _PageHandler)
        self.page = page

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class Watcher:
    """Calls `rebuild(versions)` when `versions()` differs from what the page was last built
    from. A failed rebuild is logged and tried again at the next look (a table may be in the
    middle of a write); the page already served stays."""

    def __init__(self, versions: Callable[[], Versions], rebuild: Callable[[Versions], None],
                 built_from: Versions | None = None) -> None:
        self._versions = versions
        self._rebuild = rebuild
        self.built_from = dict(built_from) if built_from is not None else None
        self.rebuilds = 0

    def check(self) -> bool:
        """Rebuild if a source changed; whether it did."""
        current = dict(self._versions())
        if current == self.built_from:
            return False
        changed = sorted(name for name in current
                         if (self.built_from or {}).get(name) != current[name])
        log.info("dashboard: rebuilding, changed: %s", ", ".join(changed))
        self._rebuild(current)
        self.built_from = current
        self.rebuilds += 1
        return True

    def run(self, poll_seconds: float, stop: threading.Event) -> None:
        while not stop.wait(poll_seconds):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - keep serving the last good page
                log.exception("dashboard: rebuild failed; serving the previous page")


def serve(page: Path, port: int, poll_seconds: float, watcher: Watcher,
          stop: threading.Event | None = None,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve `page` and run `watcher` every `poll_seconds` until `stop` is set (or Ctrl-C).
    on_ready gets the URL once the server listens."""
    stop = stop or threading.Event()
    server = DashboardServer(page, port)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
    thread.start()
    try:
        if on_ready is not None:
            on_ready(server.url)
        watcher.run(poll_seconds, stop)
    except KeyboardInterrupt:
        log.info("dashboard: stopped")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
