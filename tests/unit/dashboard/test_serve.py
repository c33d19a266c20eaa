"""`--serve` without Spark: the server answers only for the page, on 127.0.0.1, and the watcher
rebuilds exactly when a source table's version moves."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from journeylake.dashboard.serve import DashboardServer, Watcher


def test_the_watcher_rebuilds_when_a_version_changes_or_a_table_appears_and_only_then() -> None:
    versions = {"gold_funnels": 1, "gold_scores": None}
    built: list[dict] = []
    watcher = Watcher(lambda: dict(versions), built.append, built_from=dict(versions))
    assert not watcher.check()
    versions["gold_funnels"] = 2
    assert watcher.check() and built == [{"gold_funnels": 2, "gold_scores": None}]
    assert not watcher.check()
    versions["gold_scores"] = 0  # `journeylake score` ran for the first time
    assert watcher.check() and watcher.rebuilds == 2


def test_a_failed_rebuild_is_tried_again_at_the_next_look() -> None:
    attempts: list[dict] = []

    def rebuild(versions: dict) -> None:
        attempts.append(versions)
        if len(attempts) == 1:
            raise RuntimeError("table in the middle of a write")

    watcher = Watcher(lambda: {"gold_funnels": 2}, rebuild, built_from={"gold_funnels": 1})
    with pytest.raises(RuntimeError):
        watcher.check()
    assert watcher.check() and len(attempts) == 2
    assert not watcher.check()


def test_the_server_serves_the_page_on_localhost_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<html>v1</html>")
    (tmp_path / "secret.txt").write_text("not for the browser")
    server = DashboardServer(page, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.read() == b"<html>v1</html>"
            assert response.headers["Cache-Control"] == "no-store"
        page.write_text("<html>v2</html>")  # read on every request: a rebuild shows at once
        with urllib.request.urlopen(server.url + "index.html", timeout=5) as response:
            assert response.read() == b"<html>v2</html>"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "secret.txt", timeout=5)
        assert refused.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
