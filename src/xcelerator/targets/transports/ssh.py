"""Linux boards over SSH (paramiko): ``ssh://user@host[:port]/RUNTIME?options``.

For each host one connection is opened and reused across measurements. On first use the board
is checked (its Python, numpy and the runtime; what is missing is named with the fix), a private
directory is made there (``mktemp -d``: mode 0700) and the runner is uploaded to it; models are
uploaded once each (by content hash). A round runs the runner in its own remote process
(``timeout -s KILL`` bounds it), and its JSON comes back over SFTP. At the end (``close_all``,
also registered with ``atexit``) the directory is removed.

Host keys are verified against ``known_hosts`` (``~/.ssh/known_hosts``, or ``XCEL_SSH_KNOWN_HOSTS``):
an unknown host is refused unless the target says ``accept_new=1`` (the key is then saved); a
changed key is always refused. Authentication uses the SSH agent and the user's keys;
``~/.ssh/config`` aliases (HostName, User, Port, IdentityFile) are honoured. A connection lost
during a round is reopened and the round retried (``retries``, default 2); then the round is
recorded as failed. Commands are argument lists quoted with ``shlex.quote`` on the remote side;
no password or key material is logged or stored.

Files go up over SFTP; a board without an SFTP subsystem (dropbear on Buildroot/OpenWrt) gets
them through an exec channel (``cat > FILE``) instead, and results come back with ``cat``. The
runtime's own file (``targets/runtimes/NAME.py``) is uploaded beside the runner, so a board needs
Python, numpy and the runtime, nothing of xcelerator.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from xcelerator.errors import BadInputError, MissingDependencyError
from xcelerator.rounds import runner as round_runner
from xcelerator.rounds.records import RoundRequest, RoundResult
from xcelerator.targets.transports.base import Transport

if TYPE_CHECKING:
    from xcelerator.targets.registry import Target

RUNNER = Path(round_runner.__file__)  # found by import; the same file is copied to boards


class ConnectionLost(Exception):
    pass


@dataclass(frozen=True)
class HostSpec:
    user: str | None
    host: str
    port: int | None

    @classmethod
    def parse(cls, netloc: str) -> HostSpec:
        user, _, hostport = netloc.rpartition("@")
        host, _, port = hostport.partition(":")
        if not host:
            raise BadInputError(f"ssh target: no host in '{netloc}'")
        try:
            p = int(port) if port else None
        except ValueError:
            raise BadInputError(f"ssh target: port {port!r} is not a number") from None
        return cls(user or None, host, p)

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"


def known_hosts_path() -> Path:
    return Path(os.environ.get("XCEL_SSH_KNOWN_HOSTS", Path.home() / ".ssh" / "known_hosts"))


class Session:
    """One connection to one board, with its private working directory."""

    def __init__(self, spec: HostSpec, accept_new: bool = False, connect_timeout: float = 10.0) -> None:
        try:
            import paramiko
        except ImportError:
            raise MissingDependencyError("paramiko", "ssh", "ssh:// targets") from None
        self.paramiko = paramiko
        self.spec, self.accept_new, self.connect_timeout = spec, accept_new, connect_timeout
        self.client: Any = None
        self.dir: str | None = None
        self.uploaded: dict[str, str] = {}
        self.checked: set[tuple[str, str]] = set()
        self.facts: dict[str, Any] = {}
        self.sftp_ok = os.environ.get("XCEL_SSH_NO_SFTP", "") != "1"

    # ------------------------------------------------------------------ connection
    def _resolve(self) -> dict[str, Any]:
        cfg_path = Path.home() / ".ssh" / "config"
        host, user, port, keys = self.spec.host, self.spec.user, self.spec.port, None
        if cfg_path.exists():
            cfg = self.paramiko.SSHConfig.from_path(str(cfg_path)).lookup(self.spec.host)
            host = cfg.get("hostname", host)
            user = user or cfg.get("user")
            port = port or (int(cfg["port"]) if "port" in cfg else None)
            keys = cfg.get("identityfile")
        return {
            "hostname": host,
            "port": port or 22,
            "username": user or os.environ.get("USER") or "root",
            "key_filename": keys,
        }

    def connect(self) -> None:
        p = self.paramiko
        c = p.SSHClient()
        kh = known_hosts_path()
        if kh.exists():
            c.load_host_keys(str(kh))
        if self.accept_new:
            kh.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            c.set_missing_host_key_policy(p.AutoAddPolicy())
        else:
            c.set_missing_host_key_policy(p.RejectPolicy())
        where = str(self.spec)
        try:
            c.connect(
                **self._resolve(),
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=True,
                look_for_keys=True,
            )
        except p.BadHostKeyException:
            raise BadInputError(
                f"ssh {where}: the host key changed since it was recorded in {kh}: refusing to connect "
                f"(if the board was reinstalled, verify its key and run ssh-keygen -R {self.spec.host})"
            ) from None
        except p.AuthenticationException:
            raise BadInputError(
                f"ssh {where}: authentication refused: check the user name and that your key is in the agent "
                "or ~/.ssh and in the board's authorized_keys"
            ) from None
        except p.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise BadInputError(
                    f"ssh {where}: unknown host key (not in {kh}); add it (ssh-keyscan) or accept it "
                    "explicitly with ?accept_new=1"
                ) from None
            raise BadInputError(f"ssh {where}: {e}") from None
        except (TimeoutError, OSError) as e:
            raise BadInputError(f"ssh {where}: host unreachable ({e}); check the address, port and network") from None
        if self.accept_new:
            c.save_host_keys(str(kh))
            os.chmod(kh, 0o600)
        self.client = c

    def alive(self) -> bool:
        t = self.client.get_transport() if self.client else None
        return bool(t and t.is_active())

    def ensure(self) -> None:
        if not self.alive():
            self.uploaded.clear()
            self.connect()
            if self.dir is None:
                code, out, err = self.run(["mktemp", "-d", "/tmp/xcel-XXXXXXXX"], 30)
                if code != 0:
                    raise BadInputError(f"ssh {self.spec}: cannot make a private directory: {err.strip()}")
                self.dir = out.strip()

    def run(self, argv: list[str], timeout: float, stdin: bytes | None = None) -> tuple[int, str, str]:
        """An argument list run remotely (each argument shell-quoted); exit code, stdout, stderr."""
        cmd = " ".join(shlex.quote(a) for a in argv)
        try:
            chan = self.client.get_transport().open_session(timeout=self.connect_timeout)
            chan.settimeout(timeout)
            chan.exec_command(cmd)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if not self.alive():
                    raise ConnectionLost("the connection dropped")
                if time.monotonic() > deadline:
                    chan.close()
                    raise ConnectionLost(f"no answer within {timeout:g} s")
                time.sleep(0.01)
            code = chan.recv_exit_status()
            chan.close()
            return code, out.decode(errors="replace"), err.decode(errors="replace")
        except (OSError, EOFError, self.paramiko.SSHException) as e:
            raise ConnectionLost(f"{type(e).__name__}: {e}") from e

    # ------------------------------------------------------------------ board
    def check(self, python: str, runtime: str, mod: str, pip: str) -> None:
        if (python, runtime) in self.checked:
            return
        probe = (
            "import json, os, platform, sys\n"
            "out = {'python': platform.python_version(), 'cores': os.cpu_count(), 'missing': []}\n"
            f"for m in ('numpy', {mod!r}):\n"
            "    try:\n        __import__(m)\n    except Exception:\n        out['missing'].append(m)\n"
            "cpu = ''\n"
            "try:\n    cpu = [l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') "
            "if l.startswith(('model name', 'Hardware', 'Model'))][0]\nexcept Exception:\n    pass\n"
            "out['cpu_model'] = cpu\nprint(json.dumps(out))\n"
        )
        code, out, err = self.run([python, "-c", probe], 60)
        if code != 0:
            raise BadInputError(
                f"ssh {self.spec}: cannot run {python} on the board ({(err or out).strip()[:200]}); "
                "install Python 3 there or give its path with ?python=/path/to/python3"
            )
        facts = json.loads(out.strip().splitlines()[-1])
        if facts["missing"]:
            need = " ".join(pip if m == mod else m for m in facts["missing"])
            raise BadInputError(
                f"ssh {self.spec}: the board lacks {', '.join(facts['missing'])} for {python}: "
                f"run '{python} -m pip install {need}' there"
            )
        self.facts = facts
        self.checked.add((python, runtime))

    def upload(self, local: str | Path, name: str | None = None) -> str:
        local = str(local)
        digest = hashlib.sha256(Path(local).read_bytes()).hexdigest()[:16]
        if digest in self.uploaded:
            return self.uploaded[digest]
        assert self.dir is not None
        remote = f"{self.dir}/{name or digest + Path(local).suffix}"
        files = [(local, remote), *((str(b), remote[: -len(a)] + a2) for a, a2, b in _companions(local))]
        for src, dst in files:
            self._put(src, dst)
        self.uploaded[digest] = remote
        return remote

    def _put(self, local: str, remote: str) -> None:
        """SFTP when the board has it, else ``cat > FILE`` over an exec channel."""
        if self.sftp_ok:
            try:
                sftp = self.client.open_sftp()
                sftp.put(local, remote)
                sftp.close()
                return
            except self.paramiko.SSHException as e:
                if not self.alive():
                    raise ConnectionLost(f"upload failed: {e}") from e
                self.sftp_ok = False  # no SFTP subsystem (dropbear): fall back for this board
            except (OSError, EOFError) as e:
                raise ConnectionLost(f"upload failed: {e}") from e
        code, _, err = self.run(["sh", "-c", f"cat > {shlex.quote(remote)}"], 600, Path(local).read_bytes())
        if code != 0:
            raise ConnectionLost(f"upload over an exec channel failed: {err.strip()[:200]}")

    def fetch_json(self, remote: str) -> dict[str, Any]:
        data: bytes | str
        if self.sftp_ok:
            try:
                sftp = self.client.open_sftp()
                with sftp.open(remote) as f:
                    data = f.read()
                sftp.close()
            except FileNotFoundError:
                return {}
            except (OSError, EOFError, self.paramiko.SSHException) as e:
                raise ConnectionLost(f"download failed: {e}") from e
        else:
            code, data, _ = self.run(["cat", remote], 120)
            if code != 0:
                return {}
        try:
            return dict(json.loads(data))
        except ValueError:
            return {}

    def close(self) -> None:
        if self.client is not None and self.alive() and self.dir:
            try:
                self.run(["rm", "-rf", self.dir], 30)
            except ConnectionLost:
                pass
        if self.client is not None:
            self.client.close()
        self.client, self.dir = None, None


_SESSIONS: dict[tuple[str, bool], Session] = {}


def session(netloc: str, accept_new: bool = False, connect_timeout: float = 10.0) -> Session:
    key = (netloc, accept_new)
    if key not in _SESSIONS:
        _SESSIONS[key] = Session(HostSpec.parse(netloc), accept_new, connect_timeout)
    s = _SESSIONS[key]
    s.ensure()
    return s


def close_all() -> None:
    for s in list(_SESSIONS.values()):
        s.close()
    _SESSIONS.clear()


atexit.register(close_all)


def _companions(local: str) -> list[tuple[str, str, Path]]:
    """Files that travel with a model: OpenVINO IR weights (.bin beside .xml), ncnn weights
    (.bin beside .param)."""
    p = Path(local)
    out: list[tuple[str, str, Path]] = []
    for suffix in (".xml", ".param"):
        if p.suffix == suffix and p.with_suffix(".bin").exists():
            out.append((suffix, ".bin", p.with_suffix(".bin")))
    return out


class SshTransport(Transport):
    """``ssh://[user@]host[:port]/RUNTIME?options``: the runner and the runtime's file on a board."""

    target: Target  # a registry target: its runtime spec gives the adapter file and the probe

    name = "ssh"
    scheme = "ssh://"
    example = "ssh://[user@]host[:port]/RUNTIME"
    OPTIONS: ClassVar[dict[str, dict[str, Any]]] = {
        "python": {"help": "the board's Python (default python3)"},
        "accept_new": {"help": "accept and save an unknown host key", "choices": ["0", "1"]},
        "retries": {"help": "retries of a round after a lost connection", "integer": True},
        "connect_timeout": {"help": "seconds to wait for the board", "integer": True},
    }

    @classmethod
    def validate(cls, target: Any) -> None:
        HostSpec.parse(target.address)

    @classmethod
    def describe(cls) -> tuple[bool, str]:
        try:
            import paramiko  # noqa: F401
        except ImportError:
            return False, "paramiko is not installed: pip install 'xcelerator[ssh]'"
        return True, "Linux boards over SSH (paramiko; SFTP or an exec channel); the board needs Python and the runtime"

    def run(self, request: RoundRequest) -> RoundResult:
        """One round on the board. Lost connections are reopened and the round retried
        ``retries`` times; then the round is ``failed`` with the reason."""
        netloc, opts = self.target.address, self.target.opts
        spec = self.target.spec
        assert spec is not None
        retries = int(opts.get("retries", "2"))
        python = opts.get("python", "python3")
        accept_new = opts.get("accept_new", "0") == "1"
        ct = float(opts.get("connect_timeout", "10"))
        timeout = request.plan.timeout
        last = ""
        for attempt in range(retries + 1):
            started = time.time()
            try:
                s = session(netloc, accept_new, ct)
                s.check(python, spec.name, spec.module, spec.pip)
                runner = s.upload(RUNNER, "runner.py")
                adapter = s.upload(spec.file, f"rt_{spec.name}.py")  # never named like the module it imports
                model = s.upload(request.model)
                assert s.dir is not None
                tag = f"r{os.getpid()}-{time.monotonic_ns()}"
                doc = request.document(model=model, adapter=adapter)
                req_remote, out_remote = f"{s.dir}/{tag}.req.json", f"{s.dir}/{tag}.out.json"
                code, _, err = s.run(["sh", "-c", f"cat > {shlex.quote(req_remote)}"], 30, json.dumps(doc).encode())
                if code != 0:
                    raise ConnectionLost(f"cannot write the request: {err.strip()[:200]}")
                argv = ["timeout", "-s", "KILL", str(int(timeout) + 1), python, runner, req_remote, out_remote]
                code, out, err = s.run(argv, timeout + 30)
                raw = s.fetch_json(out_remote)
                s.run(["rm", "-f", req_remote, out_remote], 30)
                finished = time.time()
                if not raw:
                    why = "timeout" if code in (124, 137, -9) else f"exit code {code}"
                    text = (err or out).strip()
                    tail = text.splitlines()[-1:] if text else []
                    return RoundResult.failure(
                        request.index,
                        "timeout" if why == "timeout" else "crashed",
                        f"the remote runner ended without a result ({why})" + (f": {tail[0][:200]}" if tail else ""),
                        started,
                        finished,
                        detail=text[-8000:],
                    )
                return RoundResult.from_runner(
                    raw, request.index, started, finished, env={"board": str(s.spec), "board_facts": s.facts}
                )
            except ConnectionLost as e:
                last = f"connection to {netloc} lost (attempt {attempt + 1} of {retries + 1}): {e}"
                stale = _SESSIONS.get((netloc, accept_new))
                if stale is not None and stale.client is not None:
                    stale.client.close()
                time.sleep(min(2.0, 0.5 * (attempt + 1)))
            except BadInputError as e:  # the board cannot run it (no Python, runtime missing, auth)
                return RoundResult.failure(request.index, "failed", str(e), started, time.time())
        now = time.time()
        return RoundResult.failure(request.index, "failed", last, now, now)
