"""`scryer-runbook lab` and `scryer-runbook regenerate-notebooks`: the runbooks, opened or re-run with outputs.

Committed outputs come from a real run. Volatile values (scratch names, ports, temp paths, this checkout's
path) are normalised and passwords masked, so a re-run gives a clean diff.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import sys
import time
from pathlib import Path

from scryer_runbook import server
from scryer_runbook.project import REPO_ROOT
from scryer_runbook.urls import mask_text

NOTEBOOKS = REPO_ROOT / "notebooks"

_VOLATILE = [
    (re.compile(r"\bscry_[0-9a-f]{6}_([a-z0-9_]+?)_[0-9a-f]{6}\b"), r"scry_\1"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:5432"),
    (re.compile(r'(port\s*=?\s*"?)\d{4,5}\b'), r"\g<1>5432"),
    (re.compile(r"/tmp/[\w.-]+(/[\w.-]+)*?(?=/alembic|/src|/notebooks|\b)"), "/tmp/project-copy"),
    (re.compile(re.escape(str(REPO_ROOT))), "."),
    (re.compile(r"(Create Date: )[\d-]+ [\d:.]+"), r"\g<1>2026-01-01 00:00:00.000000"),
]


def normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return mask_text(text)


def normalise_notebook(nb) -> None:
    """Make a freshly executed notebook stable: outputs normalised, run metadata dropped, counts sequential."""
    nb.metadata.pop("papermill", None)
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                output["execution_count"] = count
            if "text" in output:
                output["text"] = normalise("".join(output["text"]))
            for key, value in output.get("data", {}).items():
                if key.startswith("text/"):
                    output["data"][key] = normalise("".join(value))
            if output.get("output_type") == "error":
                output["traceback"] = [normalise(line) for line in output["traceback"]]
                output["evalue"] = normalise(output["evalue"])


def execute(path: Path, parameters: dict | None = None, timeout: int = 300):
    """Execute a notebook in its folder with this interpreter's kernel; returns the executed notebook."""
    import nbformat  # noqa: PLC0415 - notebook tooling is an extra, not needed by the CLI's other commands
    import papermill  # noqa: PLC0415

    output = papermill.execute_notebook(str(path), None, parameters=parameters or {}, cwd=str(path.parent),
                                        kernel_name="python3", progress_bar=False, execution_timeout=timeout)
    return nbformat.from_dict(output)


def regenerate(paths: list[Path]) -> int:
    import nbformat  # noqa: PLC0415

    embedded = None
    if not os.environ.get("DATABASE_URL"):
        embedded = server.start_server()
        os.environ["DATABASE_URL"] = embedded.url
    try:
        def one(path: Path) -> str:
            started = time.monotonic()
            nb = execute(path)
            normalise_notebook(nb)
            nbformat.write(nb, path)
            return f"{path.name}: {time.monotonic() - started:.1f} s"

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for line in pool.map(one, paths):
                print(line)
    finally:
        if embedded:
            embedded.stop()
    return 0


def add_arguments(parser, command: str) -> None:
    if command == "regenerate-notebooks":
        parser.add_argument("paths", nargs="*", type=Path, help="notebooks to re-run (default: all)")


def run(args) -> int:
    if args.command == "regenerate-notebooks":
        return regenerate(args.paths or sorted(NOTEBOOKS.glob("*.ipynb")))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = server.shared_server().url
        print("sandbox server running; stop it later with: scryer-runbook pg stop")
    os.execv(sys.executable, [sys.executable, "-m", "jupyter", "lab", str(NOTEBOOKS), "--ip", "127.0.0.1",
                              "--no-browser"])
