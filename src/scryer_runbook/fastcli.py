"""`python -m alembic ...` without paying 0.5-0.8 s of imports per command: a preloaded fork server.

``run()`` is a drop-in for ``subprocess.run(args, cwd=, env=, stdout=PIPE, stderr=STDOUT or PIPE,
text=True, timeout=)`` when ``args`` is ``[sys.executable, "-m", "alembic", ...]`` (or ``-m
scryer_runbook.guard alembic``). It hands the command to a server process (one per calling process,
started on first use, gone when the caller exits) that imported Alembic, SQLAlchemy and psycopg once and
never anything of a project. For each command the server forks; the child takes the command's stdin,
pipes for stdout and stderr, its cwd, exactly its environment and the caller's process group, puts the
cwd first on ``sys.path`` as ``-m`` does, and runs the module as ``python -m`` would (runpy's
``_run_module_as_main``, the same traceback for an uncaught error, the same exit code). So a command gets
a process of its own, imports the project (env.py, models, revisions) fresh, and returns the CLI's exit
code and output.

The server holds no thread and no connection when it forks. What the interpreter reads from the
environment at start-up (``PYTHON*``, locale, ``HOME``, temp dir, time zone) is part of a server's key:
a command whose environment differs there gets a server of its own. Without ``os.fork`` (or pidfds, or
fd passing), with ``SCRYER_FAST_ALEMBIC=0``, or when a server cannot start cleanly, ``run()`` is plain
``subprocess.run``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import re
import runpy
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

SWITCH = "SCRYER_FAST_ALEMBIC"  # "0": every command is a plain subprocess
# Libraries only: a project's own modules (env.py, models, revisions, this package) are each child's.
PRELOAD = (
    "asyncio",
    "logging.config",
    "greenlet",
    "psycopg",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql.psycopg",
    "alembic.config",
    "alembic.command",
    "alembic.autogenerate",
    "alembic.ddl.postgresql",
    "alembic.runtime.migration",
    "alembic.script",
    "mako.template",
    "dotenv",
)
# What the interpreter (or a preloaded library) reads from the environment when it starts.
STARTUP_ENV = re.compile(r"PYTHON\w*|LANG|LANGUAGE|LC_\w+|HOME|TMPDIR|TEMP|TMP|TZ|PSYCOPG\w*|SQLALCHEMY\w*")
MAX_MESSAGE = 1 << 20
START_TIMEOUT = 60.0


MODULES = ("alembic", "scryer_runbook.guard")  # `python -m` these: the CLI, or the CLI under the guard
_local = threading.local()


def supported() -> bool:
    return (
        os.environ.get(SWITCH, "1") != "0"
        and not getattr(_local, "plain", False)
        and hasattr(os, "fork")
        and hasattr(os, "pidfd_open")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
    )


@contextlib.contextmanager
def plain():
    """In this block, in this thread, every command is a plain subprocess (to compare the two ways)."""
    _local.plain = True
    try:
        yield
    finally:
        _local.plain = False


def run(args, *, cwd, env, timeout=None, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(args, cwd=cwd, env=env, timeout=timeout, **kwargs)``; through the fork server when
    ``args`` is ``python -m MODULE ...`` (MODULES), stdout and stderr piped as text (together or apart)."""
    fast = (
        len(args) >= 3
        and list(args[:2]) == [sys.executable, "-m"]
        and args[2] in MODULES
        and supported()
        and kwargs
        in (
            {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True},
            {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True},
        )
    )
    server = _server_for(env) if fast else None
    if server is None:
        return subprocess.run(args, cwd=cwd, env=env, timeout=timeout, **kwargs)
    apart = kwargs["stderr"] == subprocess.PIPE
    returncode, out, err = server.run(args[2], list(args[3:]), os.fspath(cwd), dict(env), timeout, apart)
    stdout, stderr = _text(out), _text(err) if apart else None
    if returncode is None:
        raise subprocess.TimeoutExpired(args, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, returncode, stdout, stderr)


def _readable(fds, timeout: float | None) -> list[int]:
    """Which of ``fds`` (an fd or several) can be read within ``timeout`` seconds (None: wait)."""
    if timeout is not None and timeout <= 0:
        return []
    poll = select.poll()
    for fd in [fds] if isinstance(fds, int) else fds:
        poll.register(fd, select.POLLIN)
    return [fd for fd, _ in poll.poll(None if timeout is None else timeout * 1000)]


def _text(data: bytes) -> str:
    """As ``subprocess.run(..., text=True)`` decodes: the locale's encoding, universal newlines."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- the caller's side --------------------------------------------------------------------------------------

_servers: dict[tuple, _Server | None] = {}  # start-up environment key -> server (None: cannot serve)
_lock = threading.Lock()


def _key(env: dict) -> tuple:
    return tuple(sorted((name, value) for name, value in env.items() if STARTUP_ENV.fullmatch(name)))


def _server_for(env: dict, wait: bool = True) -> _Server | None:
    """The ready server for this environment, started if need be; None when it cannot serve (go plain)."""
    key = _key(env)
    with _lock:
        if key not in _servers:
            _servers[key] = _Server.start(env)
        server = _servers[key]
        if server is not None and wait and not server.wait_ready():
            server = _servers[key] = None
        return server


def prestart(env: dict | None = None) -> None:
    """Start the server now (it imports in the background), so the first command does not wait for it."""
    if supported():
        _server_for({**os.environ, "PYTHONUNBUFFERED": "1"} if env is None else env, wait=False)


def _stop_all() -> None:
    for server in _servers.values():
        if server is not None:
            server.stop()
    _servers.clear()


def _forget_after_fork() -> None:
    """A forked caller (a process pool, say) starts servers of its own; the parent's stay the parent's."""
    for server in _servers.values():
        if server is not None:
            server.control.close()
    _servers.clear()


class _Server:
    def __init__(self, process: subprocess.Popen, control: socket.socket, log: int):
        self.process, self.control, self.log = process, control, log
        self.ready: bool | None = None  # None: still importing

    @classmethod
    def start(cls, env: dict) -> _Server | None:
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log = os.memfd_create("alembic-fork-server")  # whatever the imports print: must stay empty
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", BOOT, __file__, str(theirs.fileno())],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=[theirs.fileno()],
                process_group=0,
            )  # its own group: what signals the caller's group (Ctrl-C, a kernel's
            # shutdown) reaches the commands, which join that group, and not the server
        except OSError:
            control.close()
            os.close(log)
            return None
        finally:
            theirs.close()
        return cls(process, control, log)

    def wait_ready(self) -> bool:
        if self.ready is None:
            started = (
                bool(_readable(self.control.fileno(), START_TIMEOUT)) and self.control.recv(64) == b"ready"
            )
            self.ready = started and os.fstat(self.log).st_size == 0
            if not self.ready:
                self.stop()
        return self.ready

    def run(
        self, module: str, args: list[str], cwd: str, env: dict, timeout: float | None, apart: bool
    ) -> tuple[int | None, bytes, bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        pipes = [os.pipe() for _ in range(2 if apart else 1)]  # (read, write): stdout, and stderr when apart
        unclosed = {fd for pipe in pipes for fd in pipe}  # closed once only: other threads reuse fd numbers
        reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            request = json.dumps(
                {"module": module, "args": args, "cwd": cwd, "env": env, "group": os.getpgrp()}
            ).encode()
            out, err = pipes[0][1], pipes[-1][1]
            socket.send_fds(self.control, [request], [0, out, err, theirs.fileno()])
            for _, writer in pipes:
                os.close(writer)
                unclosed.discard(writer)
            theirs.close()
            pid = _number(reply)
            data = {reader: bytearray() for reader, _ in pipes}
            open_readers = set(data)
            while open_readers:  # until EOF on each (every write end closed), as subprocess.run reads
                left = None if deadline is None else deadline - time.monotonic()
                ready = _readable(open_readers, left)
                if not ready:
                    os.kill(pid, signal.SIGKILL)  # subprocess.run kills the command on timeout
                    return None, bytes(data[pipes[0][0]]), bytes(data[pipes[-1][0]])
                for reader in ready:
                    chunk = os.read(reader, 65536)
                    if chunk:
                        data[reader] += chunk
                    else:
                        open_readers.discard(reader)
            return _number(reply), bytes(data[pipes[0][0]]), bytes(data[pipes[-1][0]])
        finally:
            for fd in unclosed:
                os.close(fd)
            theirs.close()
            reply.close()

    def stop(self) -> None:
        if self.control.fileno() < 0:
            return
        self.control.close()  # the server ends on EOF
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.log)


def _number(reply: socket.socket) -> int:
    data = reply.recv(64)
    if not data:
        raise ChildProcessError("the alembic fork server went away")
    return int(data)


# --- the server's side (run as `python -c BOOT thisfile FD`: never imported as part of this package) --------

BOOT = (
    "import sys; exec(compile(open(sys.argv[1], encoding='utf-8').read(), sys.argv[1], 'exec'), "
    "{'__name__': 'scryer_alembic_fork_server', '__file__': sys.argv[1]})"
)
MAIN_DUNDERS = {
    "__name__",
    "__doc__",
    "__package__",
    "__loader__",
    "__spec__",
    "__annotations__",
    "__builtins__",
}


def _serve(control_fd: int):
    """Preload, then fork one child per request; returns (in the child only) the request the child runs."""
    if sys.path and sys.path[0] == "":  # `-c` put the server's cwd first: a child puts the command's there
        del sys.path[0]
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the child imports it (and fails) as the real CLI would
    gc.collect()
    gc.freeze()  # the gc docs' advice for a pre-fork server: children do not copy these pages to scan them
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply socket)
    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 4)
                if not message:  # the caller has gone
                    os._exit(0)
                stdin, output, errors, reply_fd = fds
                reply = socket.socket(fileno=reply_fd)
                assert threading.active_count() == 1, "a thread in the fork server"
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    control.close()
                    reply.close()
                    for pidfd, (_, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    return json.loads(message), stdin, output, errors
                for fd in (stdin, output, errors):
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, reply)
                selector.register(pidfd, selectors.EVENT_READ)
                _send(reply, str(pid))
            else:
                pidfd = key.fd
                selector.unregister(pidfd)
                os.close(pidfd)
                pid, reply = children.pop(pidfd)
                _, status = os.waitpid(pid, 0)
                _send(reply, str(os.waitstatus_to_exitcode(status)))
                reply.close()


def _send(reply: socket.socket, text: str) -> None:
    try:
        reply.sendall(text.encode())
    except OSError:
        pass  # the caller gave up on this command (timeout, exit): nothing to tell


def _become(request: dict, stdin: int, output: int, errors: int) -> None:
    """In the forked child: turn into `python -m MODULE ARGS` started in ``cwd`` with ``env``, and run it."""
    try:
        os.setpgid(0, request["group"])  # the caller's process group, where a plain subprocess would be
    except OSError:
        pass  # the caller's group is in another session: stay in the server's
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(errors, 2)
    for fd in {stdin, output, errors}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    if not sys.flags.safe_path:
        sys.path.insert(0, os.getcwd())  # what `python -m` puts first
    main = sys.modules["__main__"].__dict__
    for name in set(main) - MAIN_DUNDERS:  # `-c BOOT`'s globals: a `-m` __main__ starts without them
        del main[name]
    sys.argv = ["-m", *request["args"]]  # runpy sets argv[0] to the module's file
    sys.orig_argv = [sys.executable, "-m", request["module"], *request["args"]]
    try:
        runpy._run_module_as_main(request["module"])
        code = 0
    except SystemExit as exit:  # the interpreter's handling of sys.exit()
        code = exit.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    except BaseException as error:  # noqa: BLE001 - uncaught in the CLI: the interpreter prints it from runpy down, exit 1
        trace = error.__traceback__
        while trace is not None and trace.tb_frame.f_code.co_name != "_run_module_as_main":
            trace = trace.tb_next
        error.with_traceback(trace or error.__traceback__)  # the hook prints the exception's own traceback
        sys.excepthook(type(error), error, error.__traceback__)
        if isinstance(error, KeyboardInterrupt):  # the interpreter exits by the signal itself
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        code = 1
    # The interpreter's exit, up to what a caller can observe: threads joined, atexit handlers (logging's
    # flush), std streams flushed. Tearing down every module would cost 0.1 s here (each page shared with the
    # server is copied on write), and CPython does not promise to finalise objects still alive at exit either.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - as the interpreter, which ignores a failed flush at exit
            pass
    os._exit((code or 0) & 0xFF)


if __name__ == "scryer_alembic_fork_server":
    _become(*_serve(int(sys.argv[2])))
else:
    atexit.register(_stop_all)
    os.register_at_fork(after_in_child=_forget_after_fork)
    if "ipykernel" in sys.modules:  # a runbook notebook: alembic commands come soon, import while it imports
        prestart()
