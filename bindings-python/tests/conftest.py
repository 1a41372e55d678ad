"""Shared fixtures: where the vectors are, a guard that the INSTALLED package is under test, and a fake
UAPI device served by Python threads."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import wiremesh

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
SOURCE_TREE = REPO / "bindings-python" / "python"


def pytest_configure(config: pytest.Config) -> None:
    module_path = Path(wiremesh.__file__).resolve()
    if SOURCE_TREE in module_path.parents:
        raise pytest.UsageError(
            f"wiremesh was imported from the source tree ({module_path}); "
            "run the tests against the installed package (see bindings-python/run-tests.sh)"
        )


@pytest.fixture(scope="session")
def vectors() -> Path:
    assert VECTORS.is_dir(), VECTORS
    return VECTORS


# Fake UAPI devices -------------------------------------------------------------------------------------

SET_OK = "errno=0\n\n"


class FakeDevice:
    """A fake UAPI device on a Unix socket, served by Python threads (one per connection, several requests
    per connection, like wireguard-go).

    `state` answers get=1: a text is sent as it is (a stateless device), a `wiremesh.DeviceState` is
    rendered and every accepted set=1 request is applied to it with `wiremesh.apply_update` (a device
    that keeps its state). set=1 is answered with `set_reply`; a device whose `set_reply` is not
    errno=0 refuses the request and keeps its state. Every set=1 request is kept in `requests`; any
    other request is answered errno=-71 (EPROTO). `delay` is slept before each answer; with
    `cut_answers`, only the first half of an answer is sent before the device hangs up."""

    def __init__(
        self,
        path: Path,
        state: wiremesh.DeviceState | str,
        set_reply: str = SET_OK,
        delay: float = 0.0,
        cut_answers: bool = False,
    ) -> None:
        self.path = path
        self.state = state
        self.set_reply = set_reply
        self.delay = delay
        self.cut_answers = cut_answers
        self.requests: list[str] = []
        self.connections = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        workers = []
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            self.connections += 1
            worker = threading.Thread(target=self.handle, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(5)

    def answer(self, request: str) -> str:
        if request == "get=1\n\n":
            if isinstance(self.state, str):
                return self.state
            return wiremesh.render_uapi_get_response(self.state)
        if request.startswith("set=1\n"):
            self.requests.append(request)
            if self.set_reply == SET_OK and not isinstance(self.state, str):
                self.state = wiremesh.apply_update(self.state, wiremesh.parse_uapi_set_request(request))
            return self.set_reply
        return "errno=-71\n\n"

    def handle(self, conn: socket.socket) -> None:
        buffer = b""
        conn.settimeout(0.1)
        with conn:
            while not self.stopping.is_set():
                while b"\n\n" not in buffer:
                    try:
                        chunk = conn.recv(4096)
                    except socket.timeout:
                        if self.stopping.is_set():
                            return
                        continue
                    if not chunk:
                        return
                    buffer += chunk
                end = buffer.index(b"\n\n") + 2
                request, buffer = buffer[:end].decode(), buffer[end:]
                time.sleep(self.delay)
                answer = self.answer(request)
                if self.cut_answers:
                    conn.sendall(answer.encode()[: len(answer) // 2])
                    return
                conn.sendall(answer.encode())

    def stop(self) -> None:
        """Stops serving and waits for the threads (bounded); calling it again does nothing."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture()
def socket_dir() -> Iterator[Path]:
    # Unix socket paths are limited to ~100 bytes: a short directory rather than pytest's tmp_path.
    path = Path(tempfile.mkdtemp(prefix="wm-uapi-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def fake_device(socket_dir: Path) -> Iterator[Callable[..., FakeDevice]]:
    """Starts `FakeDevice(socket_dir / "wg-test.sock", state, **options)`; stopped at the latest when the
    test ends."""
    devices: list[FakeDevice] = []

    def start(state: wiremesh.DeviceState | str, **options: Any) -> FakeDevice:
        device = FakeDevice(socket_dir / "wg-test.sock", state, **options)
        devices.append(device)
        return device

    try:
        yield start
    finally:
        for device in devices:
            device.stop()
