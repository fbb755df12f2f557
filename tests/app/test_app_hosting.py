"""Hosting files: what a Hugging Face Space, a Docker image and a plain server run.

Docker itself is not available on the development machine; what the image runs is tested
here: the set-up script's server profile, ``medseg app --host 0.0.0.0`` and the refusal to
start without a login.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medseg.app import server
from medseg.commands import app as app_cmd

ROOT = Path(__file__).resolve().parents[2]


def _lines(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _setup_packages(profile: str) -> set[str]:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    branch = text.split('if [ "$PROFILE" = server ]; then', 1)[1]
    server_part, dev_part = branch.split("else", 1)
    part = server_part if profile == "server" else dev_part
    return set(re.search(r"APT_PKGS=\(([^)]*)\)", part).group(1).split())


def test_requirements_install_the_package_with_cpu_torch():
    from packaging.requirements import Requirement

    lines = _lines("requirements.txt")
    assert "." in lines  # pip installs medseg from the Space's own files
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    reqs = {Requirement(ln).name: Requirement(ln) for ln in lines if not ln.startswith(("-", "."))}
    assert {"torch", "torchvision"} <= set(reqs)
    installed_torch = __import__("torch").__version__.split("+")[0]
    assert reqs["torch"].specifier.contains(installed_torch)


def test_packages_txt_holds_the_example_data_packages():
    from medseg.app import examples

    pkgs = set(_lines("packages.txt"))
    assert pkgs <= _setup_packages("server")
    assert "chromium" not in _setup_packages("server") and "chromium" in _setup_packages("dev")
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg here")
    for path in (examples.T1_HEAD, Path(examples.SAMPLES["leuvenA"][0])):
        if not path.is_file():
            pytest.skip(f"{path} missing")
        # independent: which Debian package ships the example's file
        owner = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True)
        assert owner.stdout.split(":")[0] in pkgs, owner.stdout


def test_setup_script_parses_and_keeps_the_dev_stamp():
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")], check=True)
    text = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'EXTRAS=""' in text and 'EXTRAS="[dev]"' in text
    assert '[ "$PROFILE" = dev ] || want="$want-$PROFILE"' in text  # dev stamp unchanged


def test_dockerfile_runs_the_setup_script_and_needs_a_login():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim-bookworm$", text, re.M)
    assert "RUN bash scripts/setup.sh" in text
    assert "MEDSEG_SETUP=server" in text and "MEDSEG_REQUIRE_AUTH=1" in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M).group(1)
    import json

    argv = json.loads(cmd)
    assert argv[:2] == [".venv/bin/medseg", "app"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert f"EXPOSE {argv[argv.index('--port') + 1]}" in text
    ignored = _lines(".dockerignore")
    assert ".venv" in ignored and ".git" in ignored


def _parse(argv, monkeypatch, **env):
    for k in ("GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "MEDSEG_AUTH", "MEDSEG_REQUIRE_AUTH",
              "SPACE_ID"):  # fmt: skip
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = argparse.ArgumentParser()
    app_cmd.add_arguments(p)
    return p.parse_args(argv)


class _FakeDemo:
    launched = None

    def queue(self, **kw):
        return self

    def launch(self, **kw):
        self.launched = kw


@pytest.mark.parametrize(
    "argv, env",
    [
        (["--host", "0.0.0.0", "--require-auth"], {}),
        (["--host", "0.0.0.0"], {"MEDSEG_REQUIRE_AUTH": "1"}),
        ([], {"SPACE_ID": "someone/medseg"}),
    ],
)
def test_hosted_server_refuses_to_start_without_a_login(argv, env, monkeypatch, capsys):
    demo = _FakeDemo()
    monkeypatch.setattr(server, "build_app", lambda: demo)
    assert server.main(_parse(argv, monkeypatch, **env)) == 2
    assert "must have a login" in capsys.readouterr().err and demo.launched is None
    demo = _FakeDemo()
    monkeypatch.setattr(server, "build_app", lambda: demo)
    args = _parse([*argv, "--auth", "alice:change-me"], monkeypatch, **env)
    assert server.main(args) == 0
    assert demo.launched["auth"] == ("alice", "change-me")
    assert demo.launched["server_name"] == ("0.0.0.0" if argv else "127.0.0.1")


def test_space_folder_runs_as_it_is(tmp_path):
    import gradio
    import yaml

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    out = tmp_path / "space"
    subprocess.run(["bash", str(ROOT / "scripts" / "make_space.sh"), str(out)], check=True)
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\n")
    config = yaml.safe_load(readme.split("---\n")[1])
    assert config["sdk"] == "gradio" and config["sdk_version"] == gradio.__version__
    assert (out / config["app_file"]).is_file()
    for name in ("requirements.txt", "packages.txt", "pyproject.toml"):
        assert (out / name).is_file(), name
    assert (out / "medseg/app/static/niivue/niivue.umd.js").is_file()
    assert not (out / "tests").exists()
    # the block docs/hosting.md shows is the one the Space gets
    header = (ROOT / "deploy" / "space_readme_header.md").read_text().strip()
    assert f"```yaml\n{header}\n```" in (ROOT / "docs" / "hosting.md").read_text()
    # app.py in that folder answers --help with the serving options
    help_ = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=out, capture_output=True, text=True, timeout=120
    )
    assert help_.returncode == 0 and "--require-auth" in help_.stdout
