"""Start ``medseg app`` in a subprocess on a free loopback port, for gradio_client tests.

The server gets its own ``TMPDIR`` and ``GRADIO_TEMP_DIR`` under ``root``, and its stdout and
stderr go to ``root/server.log``: the privacy tests grep every file it wrote.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"  # never any other address


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class AppServer:
    """One ``medseg app`` process (``start`` → ``client`` … → ``stop``)."""

    def __init__(
        self,
        root: Path,
        *extra_args: str,
        auth: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.root = Path(root)
        self.extra = list(extra_args)
        self.auth = auth
        self.env = dict(env or {})
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "server.log"
        self.tmp = self.root / "tmp"
        self.cwd = self.root / "cwd"  # an empty working directory: nothing should land here

    def start(self, timeout: float = 180.0) -> AppServer:
        (self.tmp / "gradio").mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            GRADIO_ANALYTICS_ENABLED="False",
            TMPDIR=str(self.tmp),
            GRADIO_TEMP_DIR=str(self.tmp / "gradio"),
            OMP_NUM_THREADS="1",
        )
        env.pop("MEDSEG_AUTH", None)
        env.update(self.env)
        cmd = [sys.executable, "-m", "medseg.cli", "app", "--host", HOST, "--port", str(self.port)]
        if self.auth:
            cmd += ["--auth", ":".join(self.auth)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd + self.extra, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"medseg app exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=5):
                    return self
            except urllib.error.HTTPError as e:  # 401 with --auth: it is up
                if e.code in (401, 403):
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"medseg app did not answer within {timeout} s:\n{self.log()}")

    def client(self, **kwargs):
        from gradio_client import Client

        return Client(self.url, verbose=False, auth=self.auth, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()


def call(client, *args, api_name: str, timeout: float = 60.0):
    """``client.predict`` with a deadline: a hang fails the test instead of blocking it."""
    return client.submit(*args, api_name=api_name).result(timeout=timeout)
