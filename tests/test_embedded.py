"""The embedded Redis and Tansu broker: they answer, stop cleanly, keep persistent data across a
restart, report failures with the child's log, and never outlive their parent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kapok.embedded import (
    EmbeddedKafka,
    EmbeddedRedis,
    EmbeddedServices,
    create_topics,
    port_open,
)
from kapok.errors import ServiceError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if not _gone(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if not _gone(pid)]


def test_session_services_answer(services: EmbeddedServices, redis_client: redis.Redis, key_prefix: str):
    assert services.redis_url == f"redis://127.0.0.1:{services.redis.port}/0"
    assert services.kafka_bootstrap == f"127.0.0.1:{services.kafka.port}"
    redis_client.set(f"{key_prefix}:greeting", "红棉")
    assert redis_client.get(f"{key_prefix}:greeting") == "红棉".encode()


def test_kafka_round_trip_through_a_consumer_group(kafka_bootstrap: str, topic_names: dict[str, str]):
    topic = topic_names["incidents"]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, key=b"INC-1", value=b'{"id": "INC-1"}').get(timeout=10)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-group",
        max_poll_interval_ms=10000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        records = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [(r.key, r.value) for r in records] == [(b"INC-1", b'{"id": "INC-1"}')]
        consumer.commit()
        tp = TopicPartition(topic, records[0].partition)
        assert consumer.committed(tp) == records[0].offset + 1
    finally:
        consumer.close()


def test_create_topics_sets_partitions_and_is_idempotent(kafka_bootstrap: str, key_prefix: str):
    names = [f"{key_prefix}-a", f"{key_prefix}-b"]
    create_topics(kafka_bootstrap, names, 3)
    create_topics(kafka_bootstrap, [*names, f"{key_prefix}-c"], 3)  # existing ones are fine
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        topics = consumer.topics()
        for name in [*names, f"{key_prefix}-c"]:
            assert name in topics
            assert consumer.partitions_for_topic(name) == {0, 1, 2}
    finally:
        consumer.close()


def test_topic_names_fixture_gives_unique_four_partition_topics(
    kafka_bootstrap: str, topic_names: dict[str, str], key_prefix: str
):
    assert set(topic_names) == {"incidents", "surveillance", "hotline", "hazards", "deadletter"}
    assert all(name.startswith(key_prefix) for name in topic_names.values())
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        for name in topic_names.values():
            assert consumer.partitions_for_topic(name) == {0, 1, 2, 3}
    finally:
        consumer.close()


def test_create_topics_on_unreachable_broker_raises_service_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    with pytest.raises(ServiceError, match=f"127.0.0.1:{dead_port}"):
        create_topics(f"127.0.0.1:{dead_port}", ["never"], 1, timeout_s=1.0)


def test_stop_closes_ports_and_ends_processes():
    redis_service, kafka_service = EmbeddedRedis(), EmbeddedKafka()
    try:
        redis_service.start()
        kafka_service.start()
        pids = [redis_service.pid, kafka_service.pid]
        ports = [redis_service.port, kafka_service.port]
        assert all(pids) and all(port_open(p) for p in ports)
        redis_service.stop()
        kafka_service.stop()
        assert redis_service.pid is None and kafka_service.pid is None
        assert _wait_gone(pids) == []
        assert not any(port_open(p) for p in ports)
    finally:
        redis_service.close()
        kafka_service.close()


@pytest.mark.parametrize(("persistent", "survives"), [(True, True), (False, False)])
def test_restart_keeps_data_only_when_persistent(persistent: bool, survives: bool):
    service = EmbeddedRedis(persistent=persistent)
    try:
        url = service.start()
        client = redis.Redis.from_url(url)
        client.set("district:440106", "天河")
        old_pid = service.pid
        assert service.restart() == url
        assert service.pid != old_pid
        assert (client.get("district:440106") == "天河".encode()) is survives
        client.close()
    finally:
        service.close()


def test_crash_then_start_again_on_the_same_port():
    service = EmbeddedKafka()
    try:
        bootstrap = service.start()
        pid = service.pid
        assert pid is not None
        service.stop(graceful=False)
        assert _wait_gone([pid]) == []
        assert service.start() == bootstrap
        assert port_open(service.port)
    finally:
        service.close()


def test_close_removes_temporary_data_but_not_a_given_data_dir(tmp_path: Path):
    owned = EmbeddedRedis(persistent=True)
    given = EmbeddedRedis(persistent=True, data_dir=tmp_path / "redis")
    for service in (owned, given):
        service.start()
    owned_dir = owned.data_dir
    owned.close()
    given.close()
    assert not owned_dir.exists()
    assert (tmp_path / "redis").is_dir()


def test_port_in_use_is_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        with pytest.raises(ServiceError, match=f"127.0.0.1:{taken} is already in use"):
            EmbeddedRedis(port=taken).start()


def test_child_that_dies_while_starting_is_reported_with_its_log():
    service = EmbeddedRedis()
    # Python rejects redis-server's options, exits with code 2 and prints why: a stand-in for a broken
    # binary.
    service._binary = sys.executable
    try:
        with pytest.raises(ServiceError, match=r"(?s)exited with code 2.*--bind"):
            service.start()
        assert service.pid is None
    finally:
        service.close()


_PARENT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from kapok.embedded import embedded_services, install_shutdown_signals
    install_shutdown_signals()
    with embedded_services() as svc:
        try:
            dirs = [str(svc.redis.log_path.parent), str(svc.kafka.log_path.parent)]
            pids_ports = [svc.redis.pid, svc.kafka.pid, svc.redis.port, svc.kafka.port]
            print(json.dumps([*pids_ports, *dirs]), flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            # The children must still run here, so consumers could shut down cleanly against them.
            time.sleep(0.3)
            print(json.dumps([svc.redis.pid is not None, svc.kafka.pid is not None]), flush=True)
    """
)


def _spawn_parent() -> tuple[subprocess.Popen[str], list[int], list[int], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_SCRIPT],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, so a group signal cannot reach pytest
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    if not line:
        parent.wait(10)
        pytest.fail(f"parent script exited with {parent.returncode} before starting the services")
    redis_pid, kafka_pid, redis_port, kafka_port, *workdirs = json.loads(line)
    return parent, [redis_pid, kafka_pid], [redis_port, kafka_port], workdirs


def test_sigkill_of_the_parent_leaves_no_orphans():
    parent, pids, ports, workdirs = _spawn_parent()
    try:
        assert not any(_gone(pid) for pid in pids)
        parent.kill()
        parent.wait(10)
        assert _wait_gone(pids) == [], "children outlived a SIGKILLed parent"
        # The children are gone; their ports close with them (allow the kernel a moment).
        deadline = time.monotonic() + 5
        while any(port_open(p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(port_open(p) for p in ports)
    finally:
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        for workdir in workdirs:  # a SIGKILLed parent cannot remove its temporary directories
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_parents_group_stops_children_after_the_parent(signum: int):
    parent, pids, _ports, workdirs = _spawn_parent()
    try:
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(parent.pid, signum)
        out, _ = parent.communicate(timeout=20)
        assert json.loads(out.strip().splitlines()[-1]) == [True, True]
        assert parent.returncode == 0  # it shut down on its own terms
        assert _wait_gone(pids) == []
        assert not any(Path(d).exists() for d in workdirs)
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
