"""api.devserver.running_server (and server_process, which also hands over the process): the one
helper that starts a real server (examples, benchmarks, tests). It serves the real app on a free
port until the block ends, and a server that cannot start is a RuntimeError saying why (with its
stderr), not a hang."""
from __future__ import annotations

import os

import httpx
import pytest

from api.devserver import SERVE, running_server, server_process


def test_serves_the_app_on_a_free_port_and_stops_it(tmp_path) -> None:
    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ts.db'}"}
    with running_server(env) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        reply = httpx.get(base_url + "/v1/me", timeout=10)
        assert reply.status_code == 401 and reply.json()["error"]["status"] == 401  # the real app, migrated
        assert (tmp_path / "ts.db").exists()
    with pytest.raises(httpx.TransportError):  # stopped on exit
        httpx.get(base_url + "/v1/me", timeout=2)


def test_a_server_that_cannot_start_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"exited with code \d+ before answering.*no_such_module_xyz"):
        with running_server(args=("no_such_module_xyz",)):
            pass


def test_a_server_that_never_answers_times_out(tmp_path) -> None:
    (tmp_path / "silent.py").write_text("import time\ntime.sleep(60)\n")  # up, but listening on nothing
    with pytest.raises(RuntimeError, match="did not answer"):
        with running_server(args=("silent",), cwd=tmp_path, timeout=1.0, stop_timeout=5):
            pass


def test_serve_with_worker_stops_its_worker_on_sigterm(tmp_path) -> None:
    """uvicorn re-raises the SIGTERM it shut down on; `turnsignal serve --with-worker` must still run
    its clean-up and stop the fit worker (it used to be orphaned)."""
    import signal
    import time

    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ts.db'}",
           "TURNSIGNAL_DATA_DIR": str(tmp_path / "data")}
    with server_process(env, args=(*SERVE, "--with-worker"), ready_path="/v1/me") as (serve, _):
        try:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=30) == 128 + signal.SIGTERM
            deadline = time.monotonic() + 15
            while True:  # the process group (serve and its worker) empties
                try:
                    os.killpg(serve.pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < deadline, "the fit worker outlived `turnsignal serve`"
                time.sleep(0.1)
        finally:
            try:
                os.killpg(serve.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
