"""An Alembic project as the doctor and the runbooks read it: its scripts, env.py's options, the command it
uses.

Read-only: env.py runs in offline mode (as ``alembic upgrade --sql`` would) and is stopped at its
``context.configure()``, so it opens no connection. Layouts handled: a plain ``alembic.ini`` (any name, with
``-c``), a relative ``script_location`` written for another working directory, and Flask-Migrate's
``migrations/alembic.ini`` (no ``script_location``; env.py needs the app's context, loaded from
``FLASK_APP``). When env.py cannot be read, the version table's name is read from its source where it is
written literally, and the project says what could not be read (``env_error``), so the doctor can say which
checks are blind.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import logging.config
import os
import shlex
import sys
import sysconfig
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from scryer_runbook import problems, urls
from scryer_runbook.i18n import _

__all__ = ["CannotRun", "Project", "load_project", "project_imports", "env_options", "no_files_left"]

DEFAULT_VERSION_TABLE = "alembic_version"
TOOL_SECTION = (
    "scryer_runbook"  # [scryer_runbook] in alembic.ini: lock_key = <pg_advisory_lock key env.py takes>
)


class CannotRun(Exception):  # noqa: N818 - a reason to stop, named as the doctor says it ("could not run")
    """The project cannot be read at all (no alembic.ini, broken scripts): the doctor exits 2, saying why."""


@dataclass
class Project:
    ini: Path
    script: ScriptDirectory
    heads: tuple[str, ...]
    revisions: list[str]  # newest first
    metadata: (
        object | None
    )  # MetaData (or a sequence of them) to compare the live schema with; None = not checked
    metadata_note: str  # where the metadata came from, or why drift is not checked
    env_opts: (
        dict  # what env.py passes to context.configure() (compare settings, include hooks, version table)
    )
    env_error: str | None = None  # why env.py could not be read offline; None when it was
    cli: str = "alembic"  # how this project runs Alembic: "alembic", "alembic -c x.ini", "flask db"
    notes: list[str] = field(default_factory=list)  # how the project was found, when it took a guess
    lock_key: int | None = None  # the advisory lock key its env.py migrates under ([scryer_runbook] lock_key)
    version_table_known: bool = True  # False: env.py was not readable and its source names it indirectly

    @property
    def version_table(self) -> str:
        return self.env_opts.get("version_table") or DEFAULT_VERSION_TABLE

    @property
    def version_schema(self) -> str | None:
        return self.env_opts.get("version_table_schema")

    def command(self, *args: str) -> str:
        """A command line for this project, e.g. ``flask db upgrade`` or ``alembic -c backend/alembic.ini
        check``."""
        return " ".join([self.cli, *args])


class _Configured(BaseException):  # noqa: N818 - BaseException: env.py's `except Exception` must not swallow it
    """Raised from context.configure() once env.py has shown us its options."""


@contextlib.contextmanager
def project_imports(paths: list[str]):
    """Import the project's own modules fresh, as a new `alembic` process would, then put everything back.

    A notebook kernel or a test may already hold another checkout's ``src.backend...`` in ``sys.modules``; the
    project's top-level names (found in its ``prepend_sys_path`` folders) are set aside while the block runs,
    unless what is loaded under that name is installed (``alembic`` itself, SQLAlchemy, ...).
    """
    installed = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})
    names = set()
    for folder in map(Path, paths):
        for entry in folder.iterdir() if folder.is_dir() else ():
            name = entry.stem if entry.suffix == ".py" else entry.name if entry.is_dir() else ""
            if name.isidentifier():
                names.add(name)

    def ours(module_name: str) -> bool:
        top = module_name.partition(".")[0]
        spec = getattr(sys.modules.get(top), "__spec__", None)
        if top not in names or spec is None or spec.origin in ("built-in", "frozen"):
            return False
        return spec.origin is None or not spec.origin.startswith(
            installed
        )  # None: a namespace package (`src`)

    saved_modules = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved_modules:
        del sys.modules[name]
    saved_path = sys.path[:]
    sys.path[:0] = paths
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path


def _config(ini: Path) -> tuple[Config, str, list[str], Path]:
    """The Alembic config, where its scripts really are, the command line that reaches them (with notes), and
    the folder its relative paths are read from (the current one, as Alembic does, unless only the ini's
    works)."""
    config = Config(str(ini))
    config.attributes["configure_logger"] = False
    here = ini.parent
    relative_ini = os.path.relpath(ini)
    cli = (
        "alembic"
        if ini.resolve() == Path("alembic.ini").resolve()
        else f"alembic -c {shlex.quote(relative_ini)}"
    )
    notes, base = [], Path.cwd()
    location = config.get_main_option("script_location")
    if not location:
        if not (here / "env.py").is_file():
            raise CannotRun(
                _("{ini}: no script_location in [alembic], and no env.py next to it").format(ini=ini)
            )
        # Flask-Migrate: `flask db` passes the migrations folder (the ini's own) as script_location.
        config.set_main_option("script_location", str(here))
        cli = (
            "flask db"
            if here.name == "migrations"
            else f"flask db --directory {shlex.quote(os.path.relpath(here))}"
        )
        notes.append(
            _("no script_location in {ini}: a Flask-Migrate project, scripts in {folder}").format(
                ini=relative_ini, folder=os.path.relpath(here)
            )
        )
    elif (
        not Path(location).is_absolute()
        and ":" not in location
        and not Path(location).exists()
        and (here / location).exists()
    ):
        # Alembic resolves a relative script_location from the directory it runs in, not from the ini's.
        config.set_main_option("script_location", str(here / location))
        base = here
        folder = shlex.quote(os.path.relpath(here))
        cli = f"cd {folder} && alembic" + (
            "" if ini.name == "alembic.ini" else f" -c {shlex.quote(ini.name)}"
        )
        notes.append(
            _(
                "script_location {location} does not exist from the current directory; read from {folder} "
                "(run alembic there)"
            ).format(location=location, folder=folder)
        )
    return config, cli, notes, base


def _prepend_paths(config: Config, base: Path) -> list[str]:
    return [str(base / path) for path in config.get_prepend_sys_paths_list() or []]  # absolute paths stay


def _lock_key(config: Config, ini: Path) -> int | None:
    text = (config.get_section(TOOL_SECTION) or {}).get("lock_key")
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise CannotRun(
            _("{ini}: [{section}] lock_key is not an integer: {value!r}").format(
                ini=ini, section=TOOL_SECTION, value=text
            )
        ) from None


def load_project(ini: Path, metadata: str | None = None, config: Config | None = None) -> Project:
    """Scripts, heads and env.py's ``target_metadata`` (or ``metadata="module:attr"``; ``"none"``: none).

    ``config``: an Alembic Config already resolved for the project (``project.AlembicProject.config()``, whose
    paths are absolute); by default the ini is resolved here, as the doctor reads it."""
    ini = Path(ini)
    if not ini.is_file():
        raise CannotRun(_("{ini}: no such file (pass -c path/to/alembic.ini)").format(ini=ini))
    try:
        resolved, cli, notes, base = _config(ini)
        if config is None:
            config, paths = resolved, _prepend_paths(resolved, base)
        else:
            paths = config.get_prepend_sys_paths_list() or []
        lock_key = _lock_key(config, ini)
    except CannotRun:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable ini is a reason not to run
        raise CannotRun(
            _("{ini}: not a usable Alembic config: {error}").format(ini=ini, error=problems.first_line(error))
        ) from None
    if cli.startswith("flask"):
        paths = paths or [str(ini.parent.parent)]  # the app lives next to migrations/
    with project_imports(paths):
        try:
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                script = ScriptDirectory.from_config(config)
                revisions = [revision.revision for revision in script.walk_revisions()]
                heads = tuple(script.get_heads())
        except Exception as error:  # noqa: BLE001 - a syntax error, a dangling down_revision, a missing folder
            # Alembic warns "Revision X referenced from ... is not present", then fails with a bare KeyError.
            reason = (
                str(warned[-1].message) if warned else f"{type(error).__name__}: {problems.first_line(error)}"
            )
            raise CannotRun(
                _("the migration scripts could not be loaded: {reason}").format(reason=urls.mask_text(reason))
            ) from None
        env_opts, env_error = env_options(config, script, flask=cli.startswith("flask"))
        known = True
        if env_error:
            env_opts, known = _options_from_source(Path(script.env_py_location))
        if metadata == "none":
            target, note = None, _("not compared (--metadata none)")
        elif metadata:
            target, note = _import_metadata(metadata), metadata
        elif env_error:
            target, note = (
                None,
                _(
                    "not compared: env.py could not be read offline ({error}); pass --metadata module:attr"
                ).format(error=env_error),
            )
        elif env_opts.get("target_metadata") is None:
            target, note = (
                None,
                _("not compared: env.py sets no target_metadata (pass --metadata module:attr)"),
            )
        else:
            target, note = env_opts["target_metadata"], _("env.py's target_metadata")
    return Project(
        ini, script, heads, revisions, target, note, env_opts, env_error, cli, notes, lock_key, known
    )


@contextlib.contextmanager
def no_files_left(folder: Path | None = None):
    """Remove the files an offline env.py creates in the working directory while the block runs.

    Alembic's ``multidb`` template opens ``<name>.sql`` for writing in offline mode before it configures anything:
    reading a project must not leave such files in the engineer's folder (or a notebook's)."""
    folder = Path(folder or os.getcwd())
    before = set(folder.iterdir())
    try:
        yield
    finally:
        for entry in set(folder.iterdir()) - before:
            if entry.is_file():
                entry.unlink()


def env_options(config: Config, script: ScriptDirectory, flask: bool = False) -> tuple[dict, str | None]:
    """Run env.py as `alembic upgrade --sql` would, and stop at its context.configure(): no connection is
    made.

    A Flask-Migrate env.py reads the app from ``current_app``: with ``FLASK_APP`` set, the app is loaded the
    way the ``flask`` command loads it and env.py runs inside its application context.
    """
    captured: dict = {}

    def configure(**kwargs) -> None:  # env.py's call: record it and stop before anything runs
        captured.update(kwargs)
        raise _Configured

    context = EnvironmentContext(config, script, as_sql=True)
    context.configure = configure  # the `alembic.context` proxy is installed from the instance's attributes
    try:
        with contextlib.ExitStack() as stack:
            app = _flask_app() if flask and os.environ.get("FLASK_APP") else None
            if app is not None:
                stack.enter_context(app.app_context())
            stack.enter_context(context)
            stack.enter_context(mock.patch.object(logging.config, "fileConfig"))  # its logging stays its own
            stack.enter_context(no_files_left())
            try:
                script.run_env()
            except _Configured:
                migrate = app.extensions.get("migrate") if app is not None else None
                # `flask db` adds Migrate(..., compare_type=...)'s options to the online configure() only.
                return {**getattr(migrate, "configure_args", {}), **captured}, None
    except Exception as error:  # noqa: BLE001 - an env.py without an offline branch, an import that fails
        reason = f"{type(error).__name__}: {urls.mask_text(problems.first_line(error))}"
        if flask and not os.environ.get("FLASK_APP"):
            reason += _(" (a Flask-Migrate env.py needs the app: set FLASK_APP)")
        return {}, reason
    return {}, _("env.py never called context.configure()")


def _flask_app():
    from flask.cli import ScriptInfo  # noqa: PLC0415 - only Flask-Migrate projects need Flask

    return ScriptInfo(app_import_path=os.environ["FLASK_APP"]).load_app()


def _options_from_source(env_py: Path) -> tuple[dict, bool]:
    """``version_table``/``version_table_schema`` as env.py's source writes them, for when it cannot run.

    Returns the options found and whether the version table's name is known (False when env.py passes it as
    anything but a literal string).
    """
    try:
        tree = ast.parse(env_py.read_text())
    except (OSError, SyntaxError, ValueError):
        return {}, False
    found, indirect, unpacked = {}, False, False
    for node in ast.walk(tree):
        for keyword in node.keywords if isinstance(node, ast.Call) else ():
            if keyword.arg in ("version_table", "version_table_schema"):  # in configure() or in dict(...)
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    found[keyword.arg] = keyword.value.value
                else:
                    indirect = True
            elif keyword.arg is None and _is_configure(node):  # configure(**options)
                unpacked = True
    return found, not indirect and (bool(found) or not unpacked)


def _is_configure(call: ast.Call) -> bool:
    return getattr(call.func, "attr", getattr(call.func, "id", None)) == "configure"


def _import_metadata(spec: str):
    module_name, _sep, attribute = spec.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in (attribute or "metadata").split("."):
            target = getattr(target, part)
    except Exception as error:  # noqa: BLE001
        raise CannotRun(f"--metadata {spec}: {type(error).__name__}: {problems.first_line(error)}") from None
    return getattr(target, "metadata", target)  # a declarative Base is fine too
