"""A Kafka broker for the streaming tests, started with the project's own script
(deploy/kafka.sh) on free ports under the test's temporary folder, stopped at the end."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "deploy" / "kafka.sh"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap servers (127.0.0.1:PORT) of a broker of this test session."""
    port, controller_port = _free_ports(2)
    env = {**os.environ, "JOURNEYLAKE_KAFKA_DIR": str(tmp_path_factory.mktemp("kafka")),
           "JOURNEYLAKE_KAFKA_PORT": str(port),
           "JOURNEYLAKE_KAFKA_CONTROLLER_PORT": str(controller_port)}
    started = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stopped = subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
