"""A local Orthanc PACS for trying medseg as a DICOM node (tests, benchmark, docs).

Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) runs as a plain child process with a
JSON configuration written to a folder of its own: HTTP and DICOM on loopback ports, the
DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS under ``/dicom-web``), optionally the medseg
listener as a DICOM modality and the OHIF viewer served on the same origin (ServeFolders).
It is stopped by its own pid. Nothing here is needed to use medseg with another PACS.

Command line (foreground; Ctrl-C stops it)::

    python -m medseg.pacs.orthanc --workdir /tmp/orthanc --http-port 8042 --dicom-port 4242 \\
        --modality MEDSEG@127.0.0.1:11112
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ORTHANC_BINARIES = ("Orthanc", "/usr/sbin/Orthanc")
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")


def find_orthanc() -> str | None:
    """Path of the Orthanc executable, or None."""
    for name in ORTHANC_BINARIES:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def find_plugin(stem: str) -> str | None:
    """A plugin library such as ``libOrthancDicomWeb`` (what ``dpkg -L`` lists), or None."""
    for d in PLUGIN_DIRS:
        p = Path(d)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.name.startswith(stem + ".so"):
                    return str(f)
    try:
        pkg = "orthanc-dicomweb" if "DicomWeb" in stem else "orthanc"
        listed = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout
    except OSError:
        return None
    hits = [line for line in listed.splitlines() if Path(line).name.startswith(stem + ".so")]
    return hits[0] if hits else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def orthanc_config(
    workdir: str | os.PathLike,
    *,
    http_port: int = 8042,
    dicom_port: int = 4242,
    aet: str = "ORTHANC",
    modalities: dict[str, tuple[str, str, int]] | None = None,
    users: dict[str, str] | None = None,
    ohif_dir: str | os.PathLike | None = None,
    lua_scripts: list[str] | None = None,
) -> dict:
    """The Orthanc configuration medseg is tested with (JSON-ready dict).

    Args:
        workdir: storage and index live in ``workdir/storage``.
        http_port, dicom_port, aet: Orthanc's own addresses (HTTP on loopback only).
        modalities: ``{name: (AET, host, port)}`` Orthanc may send to (the medseg listener).
        users: ``{user: password}`` turns on HTTP basic authentication.
        ohif_dir: an OHIF ``dist`` prepared by :mod:`medseg.pacs.ohif`, served at ``/ohif``.
        lua_scripts: Lua files (e.g. an ``IncomingHttpRequestFilter`` checking a token).
    """
    plugins = [p for p in (find_plugin("libOrthancDicomWeb"),) if p]
    cfg: dict = {
        "Name": "medseg-orthanc",
        "StorageDirectory": str(Path(workdir) / "storage"),
        "IndexDirectory": str(Path(workdir) / "storage"),
        "HttpPort": int(http_port),
        "DicomPort": int(dicom_port),
        "DicomAet": aet,
        "RemoteAccessAllowed": False,  # HTTP from this machine only
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": dict(users or {}),
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomModalities": {k: list(v) for k, v in (modalities or {}).items()},
        "Plugins": plugins,
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
        "StableAge": 2,
        "HttpTimeout": 60,
        "ConcurrentJobs": 2,
    }
    if ohif_dir is not None:
        serve = find_plugin("libServeFolders")
        if serve:
            cfg["Plugins"].append(serve)
        # ServeFolders takes the MIME type from the last dot of the path; OHIF's extension-
        # less "viewer" route is served as HTML, .mjs and .wasm get their own types.
        cfg["ServeFolders"] = {
            "Extensions": {
                "": "text/html",
                ".mjs": "application/javascript",
                ".wasm": "application/wasm",
                ".json": "application/json",
                ".map": "application/json",
            },
            "Folders": {"/ohif": str(ohif_dir)},
        }
    if lua_scripts:
        cfg["LuaScripts"] = [str(p) for p in lua_scripts]
    return cfg


class Orthanc:
    """A running Orthanc child process (a context manager).

    Example:
        >>> with Orthanc(tmpdir) as pacs:                 # doctest: +SKIP
        ...     print(pacs.url, pacs.dicomweb, pacs.dicom_port)
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        http_port: int | None = None,
        dicom_port: int | None = None,
        **config_kw,
    ):
        self.workdir = Path(workdir)
        self.http_port = http_port or free_port()
        self.dicom_port = dicom_port or free_port()
        self.config = orthanc_config(
            self.workdir, http_port=self.http_port, dicom_port=self.dicom_port, **config_kw
        )
        self.aet = self.config["DicomAet"]
        self.proc: subprocess.Popen | None = None
        users = self.config.get("RegisteredUsers") or {}
        self._auth = next(iter(users.items())) if users else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self, timeout: float = 30.0) -> Orthanc:
        exe = find_orthanc()
        if exe is None:
            raise FileNotFoundError(
                "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "storage").mkdir(exist_ok=True)
        conf = self.workdir / "orthanc.json"
        conf.write_text(json.dumps(self.config, indent=1))
        self._logf = open(self.workdir / "orthanc.log", "ab")
        self.proc = subprocess.Popen(
            [exe, str(conf)],
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # not in the caller's process group: signals stay ours
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with code {self.proc.returncode}; see {self.workdir}/orthanc.log"
                )
            try:
                self.get("/system", timeout=1.0)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"Orthanc did not answer /system within {timeout:g} s")

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """SIGTERM to our own pid, SIGKILL if it does not exit (at once with ``kill``)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self._logf.close()

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ REST helpers
    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        *,
        content_type: str = "application/json",
        timeout: float = 60.0,
    ):
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self._auth:
            import base64

            token = base64.b64encode(f"{self._auth[0]}:{self._auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body, **kw):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("POST", path, data, **kw)

    def upload(self, files) -> list[dict]:
        """POST each DICOM file to ``/instances``; returns Orthanc's answers."""
        return [
            self.post("/instances", Path(f).read_bytes(), content_type="application/dicom")
            for f in files
        ]


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m medseg.pacs.orthanc",
        description="Run a local Orthanc (DICOMweb, optional OHIF) in the foreground.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--workdir", required=True, help="configuration and storage folder")
    p.add_argument("--http-port", type=int, default=8042)
    p.add_argument("--dicom-port", type=int, default=4242)
    p.add_argument("--aet", default="ORTHANC")
    p.add_argument(
        "--modality",
        action="append",
        default=[],
        metavar="AET@HOST:PORT",
        help="a DICOM node Orthanc may send to, registered under its AE title "
        "in lower case (e.g. MEDSEG@127.0.0.1:11112 -> 'medseg')",
    )
    p.add_argument(
        "--ohif",
        default=None,
        metavar="DIR",
        help="an OHIF dist prepared by python -m medseg.pacs.ohif, served at /ohif",
    )
    p.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    args = p.parse_args(argv)
    from .common import RemoteAE

    mods = {}
    for m in args.modality:
        ae = RemoteAE.parse(m)
        mods[ae.aet.lower()] = (ae.aet, ae.host, ae.port)
    pacs = Orthanc(
        args.workdir,
        http_port=args.http_port,
        dicom_port=args.dicom_port,
        aet=args.aet,
        modalities=mods,
        ohif_dir=args.ohif,
    )
    if args.print_config:
        print(json.dumps(pacs.config, indent=2))
        return 0
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pacs.start()
    print(
        f"Orthanc {pacs.get('/system')['Version']} at {pacs.url} (DICOMweb {pacs.dicomweb}, "
        f"DICOM {pacs.aet}@127.0.0.1:{pacs.dicom_port}); Ctrl-C stops it",
        flush=True,
    )
    try:
        while not stop["now"] and pacs.proc is not None and pacs.proc.poll() is None:
            time.sleep(0.2)
    finally:
        pacs.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
