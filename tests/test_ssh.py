"""SSH boards against a real OpenSSH server started here on 127.0.0.1, with freshly generated
host and user keys and a private HOME (its ~/.ssh/config names the board): a real remote
profile, host-key checks, a connection killed mid-run, clean-up on the server side, and the
board's missing runtime named."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_conv_model
from xcelerator.cli.main import main

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
pytestmark = [
    pytest.mark.ssh,
    pytest.mark.skipif(SSHD is None, reason="OpenSSH server not installed (.ci/run installs openssh-server)"),
]
PY = sys.executable


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; returns the public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(str(path) + ".pub").read_text().strip()


class Server:
    def __init__(self, root: Path, sftp: bool = True) -> None:
        self.sftp = sftp  # False: like dropbear on Buildroot/OpenWrt boards, no SFTP subsystem
        self.root, self.port = root, _port()
        self.host_key = root / "host_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> Path:
        cfg = self.root / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin yes",
                    "StrictModes no",
                    *(["Subsystem sftp internal-sftp"] if self.sftp else []),
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        return cfg

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)
        assert SSHD is not None
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config())], stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("sshd did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)

    def kill_sessions(self) -> int:
        """Kill the per-connection sshd processes (children of the listener), not the listener."""
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in out:
            os.kill(int(pid), signal.SIGKILL)
        return len(out)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("sshd")
    home = root / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    srv = Server(root)
    _keygen(srv.host_key)
    user_pub = _keygen(home / ".ssh" / "id_ed25519")
    (root / "authorized_keys").write_text(user_pub + "\n")
    host_pub = Path(str(srv.host_key) + ".pub").read_text().split()
    kh = home / ".ssh" / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{srv.port} {host_pub[0]} {host_pub[1]}\n")
    user = os.environ.get("USER") or "root"
    (home / ".ssh" / "config").write_text(f"Host board\n  HostName 127.0.0.1\n  Port {srv.port}\n  User {user}\n")
    srv.start()
    old = {k: os.environ.get(k) for k in ("HOME", "XCEL_SSH_KNOWN_HOSTS", "SSH_AUTH_SOCK")}
    os.environ["HOME"] = str(home)
    os.environ.pop("XCEL_SSH_KNOWN_HOSTS", None)
    os.environ.pop("SSH_AUTH_SOCK", None)
    yield srv, home
    from xcelerator.targets.transports.ssh import close_all

    close_all()
    srv.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _target(extra: str = "") -> str:
    return f"ssh://board/onnxruntime?threads=1&python={PY}{extra}"


def test_remote_profile_and_cleanup(board, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.targets.transports import ssh

    model = make_conv_model(tmp_path / "m.onnx", hw=32)
    db = tmp_path / "r.db"
    args = ["--db", str(db), "profile", str(model), "-t", _target(), "--runs", "30", "--rounds", "2", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    m = doc["measurements"][0] if "measurements" in doc else doc
    assert m["status"] == "ok" and m["stats"]["median_ms"] > 0
    assert m["target"].startswith("ssh://board/onnxruntime")
    env = m["env"]
    assert env["board"] == "board" and env["board_facts"]["cores"] >= 1 and "thermal" in env
    # the connection and the board's private directory were reused across both rounds
    sessions = list(ssh._SESSIONS.values())
    assert len(sessions) == 1
    remote_dir = sessions[0].dir
    assert remote_dir and Path(remote_dir).is_dir() and oct(Path(remote_dir).stat().st_mode)[-3:] == "700"
    assert (Path(remote_dir) / "runner.py").exists()
    ssh.close_all()
    assert not Path(remote_dir).exists()  # cleaned up on the server side


def test_changed_host_key_is_refused(board, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.targets.transports import ssh

    srv, home = board
    ssh.close_all()
    kh = home / ".ssh" / "known_hosts"
    good = kh.read_text()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = Path(str(other) + ".pub").read_text().split()
    kh.write_text(f"[127.0.0.1]:{srv.port} {pub[0]} {pub[1]}\n")
    try:
        model = make_conv_model(tmp_path / "m.onnx")
        # a refused board is a failed round with the reason (exit 1), recorded like any failure
        assert main(["--db", str(tmp_path / "k.db"), "profile", str(model), "-t", _target(), "--runs", "5"]) == 1
        assert "host key changed" in capsys.readouterr().err
        # unknown host: refused unless accepted explicitly, then saved
        kh.write_text("")
        assert main(["--db", str(tmp_path / "k.db"), "profile", str(model), "-t", _target(), "--runs", "5"]) == 1
        assert "unknown host key" in capsys.readouterr().err
        args = ["profile", str(model), "-t", _target("&accept_new=1"), "--runs", "5", "--rounds", "1"]
        assert main(["--db", str(tmp_path / "k.db"), *args]) == 0
        assert "ssh-ed25519" in kh.read_text()
    finally:
        kh.write_text(good)
        ssh.close_all()


def test_connection_killed_mid_run_is_retried_or_recorded(board, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.measure.core import measure
    from xcelerator.models.artifact import load_artifact
    from xcelerator.rounds.plan import Plan
    from xcelerator.targets.registry import parse_target
    from xcelerator.targets.transports import ssh

    srv, _ = board
    art = load_artifact(make_conv_model(tmp_path / "m.onnx", hw=64, cout=32))
    plan = Plan(min_rounds=1, max_rounds=1, min_runs=10, min_seconds=3.0, max_seconds=4.0, timeout=60)

    def killer() -> None:
        time.sleep(2.0)  # the runner is in its timed loop
        srv.kill_sessions()

    for retries, expect in (("1", "ok"), ("0", "failed")):
        ssh.close_all()
        t = threading.Thread(target=killer)
        t.start()
        m = measure(art, parse_target(_target(f"&retries={retries}")), plan)
        t.join()
        assert m.status == expect, (retries, m.status, m.error)
        if expect == "failed":
            assert "connection to board lost" in m.error
    ssh.close_all()


def test_board_problems_named(board, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.targets.transports import ssh

    ssh.close_all()
    model = make_conv_model(tmp_path / "m.onnx")
    sys_py = shutil.which("python3", path="/usr/bin") or "/usr/bin/python3"
    t = f"ssh://board/onnxruntime?python={sys_py}"
    probe = subprocess.run([sys_py, "-c", "import onnxruntime"], capture_output=True)
    if probe.returncode != 0:
        assert main(["--db", str(tmp_path / "b.db"), "profile", str(model), "-t", t, "--runs", "5"]) == 1
        err = capsys.readouterr().err
        assert "the board lacks" in err and "onnxruntime" in err and "pip install" in err
    dead = f"ssh://root@127.0.0.1:{_port()}/onnxruntime?python={PY}"
    assert main(["--db", str(tmp_path / "b.db"), "profile", str(model), "-t", dead, "--runs", "5"]) == 1
    assert "host unreachable" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "b.db"), "profile", str(model), "-t", "ssh://board", "--runs", "5"]) == 2
    ssh.close_all()


def test_board_without_sftp_gets_files_over_an_exec_channel(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """dropbear on Buildroot/OpenWrt has no SFTP subsystem: uploads fall back to ``cat > FILE``."""
    from xcelerator.targets.transports import ssh

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    srv = Server(tmp_path, sftp=False)
    _keygen(srv.host_key)
    (tmp_path / "authorized_keys").write_text(_keygen(home / ".ssh" / "id_ed25519") + "\n")
    host_pub = Path(str(srv.host_key) + ".pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{srv.port} {host_pub[0]} {host_pub[1]}\n")
    srv.start()
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        ssh.close_all()
        model = make_conv_model(tmp_path / "m.onnx")
        user = os.environ.get("USER") or "root"
        uri = f"ssh://{user}@127.0.0.1:{srv.port}/onnxruntime?threads=1&python={PY}"
        args = ["--db", str(tmp_path / "d.db"), "profile", str(model), "-t", uri, "--runs", "10", "--rounds", "1"]
        assert main([*args, "--json"]) == 0
        m = json.loads(capsys.readouterr().out)["measurements"][0]
        assert m["status"] == "ok" and m["stats"]["median_ms"] > 0
        sessions = list(ssh._SESSIONS.values())
        assert len(sessions) == 1 and sessions[0].sftp_ok is False
    finally:
        ssh.close_all()
        srv.stop()
        if old_home is not None:
            os.environ["HOME"] = old_home
