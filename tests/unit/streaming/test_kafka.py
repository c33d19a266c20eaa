"""A broker that does not answer is one readable line that says how to start one."""

from __future__ import annotations

import socket

import pytest

from journeylake.cli import main
from journeylake.core.config import KafkaSettings
from journeylake.streaming.kafka import KafkaUnreachable, check_reachable
from tests.conftest import CONF_DIR


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nobody listens once the probe is closed


def test_an_unreachable_broker_names_the_setting_and_make_kafka_up() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(KafkaUnreachable) as raised:
        check_reachable(KafkaSettings(bootstrap_servers=servers, connect_timeout_seconds=1))
    assert str(raised.value).startswith(f"no Kafka broker answers at {servers} "
                                        "(streaming.kafka.bootstrap_servers)")
    assert "`make kafka-up`" in str(raised.value)


def test_a_listening_broker_is_reachable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        check_reachable(KafkaSettings(bootstrap_servers=f"127.0.0.1:{_closed_port()},"
                                      f"127.0.0.1:{port}", connect_timeout_seconds=1))


@pytest.mark.parametrize("command", ["stream", "replay"])
def test_stream_and_replay_stop_in_one_line_before_spark_without_a_broker(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([command, "--conf-dir", str(CONF_DIR), "--conf",
                   f"streaming.kafka.bootstrap_servers=127.0.0.1:{_closed_port()}"])
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith(f"journeylake {command}: error: no Kafka broker answers at ")
    assert "Traceback" not in error and error.count("\n") == 1
