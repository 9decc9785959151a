"""Measure the abuse limits of a real server (docs/security.md, "Abuse limits"):

1. 100 registrations from one address: how many are created (the rest get 429);
2. 30 plot requests by one key in a burst: how many are rendered in one window;
3. a 128 MiB dataset upload streamed without Content-Length (chunked): after how many MiB the
   server answers 413, and the server process's peak resident memory (VmHWM) before and after.

    python -m docs.abuse_figures              # this checkout, default limits, a temporary SQLite
    python -m docs.abuse_figures --cwd DIR    # the server from another checkout (e.g. before)

The server runs with the default limits (`TURNSIGNAL_RATE_*` as documented), not the devserver's
"off". Linux only (peak memory from /proc/<pid>/status). Prints one line per figure.
"""
from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path

import httpx

from api.devserver import ROOT, server_process

MIB = 1024 * 1024
DEFAULT_LIMITS = {"TURNSIGNAL_RATE_REGISTRATION": "10/hour", "TURNSIGNAL_RATE_WRITES": "120/minute",
                  "TURNSIGNAL_RATE_PLOTS": "10/minute", "TURNSIGNAL_DAILY_GRANT_CAP": "100"}


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def registrations(base_url: str, attempts: int = 100) -> tuple[int, float, dict]:
    """(how many of `attempts` registrations from this address succeeded, seconds taken, the first reply)."""
    start, created, first = time.perf_counter(), 0, {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for i in range(attempts):
            reply = client.post("/v1/participants", json={"handle": f"farm-{i}", "display_name": "Farm"})
            created += reply.status_code == 201
            first = first or (reply.json() if reply.status_code == 201 else {})
    return created, time.perf_counter() - start, first


def plots(base_url: str, key: str, participant_id: str, attempts: int = 30) -> tuple[int, int]:
    """(plots rendered, requests refused with 429) for `attempts` requests by one key in a burst."""
    rendered = refused = 0
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(attempts):
            status = client.get(f"/v1/participants/{participant_id}/plots/reliability.svg").status_code
            rendered += status == 200
            refused += status == 429
    return rendered, refused


def upload_until_refused(host: str, port: int, key: str, total_mib: int = 128) -> tuple[float, int | None]:
    """Stream a `total_mib` MiB multipart upload in 1 MiB chunks (chunked transfer encoding, so no
    Content-Length); (MiB sent when the server answered or closed, its status or None)."""
    boundary = "abusefigures"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"visibility\"\r\n\r\nprivate\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n").encode()
    request = (f"POST /v1/datasets HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * MIB
    sent = 0
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request + b"%x\r\n%s\r\n" % (len(head), head))
        sock.setblocking(False)
        try:
            for _ in range(total_mib):
                answer = _answer(sock)
                if answer is not None:
                    return sent / MIB, answer
                sock.setblocking(True)
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.setblocking(False)
                sent += len(chunk)
            sock.setblocking(True)
            tail = f"\r\n--{boundary}--\r\n".encode()
            sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
            sock.settimeout(120)
            return sent / MIB, _status(sock.recv(65536))
        except (BrokenPipeError, ConnectionResetError):
            return sent / MIB, None


def _answer(sock: socket.socket) -> int | None:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return None
    return _status(data) if data else 0


def _status(data: bytes) -> int | None:
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cwd", default=str(ROOT), help="the checkout whose server is measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **DEFAULT_LIMITS, "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/figures.db",
               "TURNSIGNAL_DATA_DIR": f"{tmp}/data", "TURNSIGNAL_ACCESS_LOG": "false"}
        with server_process(env, cwd=args.cwd) as (process, base_url):
            created, seconds, first = registrations(base_url)
            print(f"registrations from one address: {created} of 100 created in {seconds:.1f} s")
            key, participant_id = first["api_key"], first["participant"]["id"]
            rendered, refused = plots(base_url, key, participant_id)
            print(f"plots by one key in a burst of 30: {rendered} rendered, {refused} refused (429)")
            before = peak_rss_mib(process.pid)
            host, port = base_url.removeprefix("http://").split(":")
            mib, status = upload_until_refused(host, int(port), key)
            after = peak_rss_mib(process.pid)
            print(f"128 MiB upload: answered {status} after {mib:.0f} MiB sent; server peak RSS {before:.0f} -> {after:.0f} MiB")


if __name__ == "__main__":
    main()
