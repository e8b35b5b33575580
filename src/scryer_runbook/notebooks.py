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
    (re.compile(re.escape(str(REPO_ROOT))), "."),  # first: the checkout itself may live under /tmp
    (re.compile(r"\bscry_[0-9a-f]{6}_([a-z0-9_]+?)_[0-9a-f]{6}\b"), r"scry_\1"),
    (re.compile(r"(?<!http://)127\.0\.0\.1:\d+"), "127.0.0.1:5432"),  # not the docs links
    (re.compile(r'(port\s*=?\s*"?)\d{4,5}\b'), r"\g<1>5432"),
    (re.compile(r"/tmp/[\w.-]+(/[\w.-]+)*?(?=/alembic|/src|/notebooks|\b)"), "/tmp/project-copy"),
    (re.compile(r" at 0x[0-9a-f]+"), " at 0x…"),
    (re.compile(r"(Create Date: )[\d-]+ [\d:.]+"), r"\g<1>2026-01-01 00:00:00.000000"),
]


def normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return mask_text(text)


_PID = re.compile(r"\bpid (\d+)\b|\bpg_(?:cancel|terminate)_backend\((\d+)\)")


def stable_pids(nb) -> None:
    """Backend pids change on every run: renumber them 1001, 1002, ... in order of first appearance (a pid is
    recognised as ``pid N`` or ``pg_cancel_backend(N)``; every later mention of that number follows it)."""
    outputs = [output for cell in nb.cells for output in cell.get("outputs", []) if "text" in output]
    numbers: dict[str, str] = {}
    for output in outputs:
        for match in _PID.finditer("".join(output["text"])):
            numbers.setdefault(match[1] or match[2], str(1001 + len(numbers)))
    if not numbers:
        return
    mention = re.compile(r"\b(" + "|".join(map(re.escape, numbers)) + r")\b")
    for output in outputs:
        output["text"] = mention.sub(lambda match: numbers[match[1]], "".join(output["text"]))


def normalise_notebook(nb) -> None:
    """Make a freshly executed notebook stable: outputs normalised, run metadata dropped, counts sequential."""
    nb.metadata.pop("papermill", None)
    stable_pids(nb)
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

    output = papermill.execute_notebook(
        str(path),
        None,
        parameters=parameters or {},
        cwd=str(path.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=timeout,
    )
    return nbformat.from_dict(output)


def merge_streams(nb) -> None:
    """One stdout (and one stderr) output per run of prints: how output is chunked varies between runs."""
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and previous is not None
                and previous.get("output_type") == "stream"
                and previous["name"] == output["name"]
            ):
                previous["text"] += output["text"]
            else:
                merged.append(output)
        if "outputs" in cell:
            cell.outputs = merged


def regenerate_one(path: Path) -> str:
    """Run one notebook in this (worker) process, with the links in its outputs in the notebook's language."""
    import nbformat  # noqa: PLC0415

    os.environ["LANG"] = "zh_CN.UTF-8" if path.name.endswith(".zh.ipynb") else "en_US.UTF-8"
    started = time.monotonic()
    nb = execute(path)
    merge_streams(nb)
    normalise_notebook(nb)
    nbformat.write(nb, path)
    return f"{path.name}: {time.monotonic() - started:.1f} s"


def regenerate(paths: list[Path]) -> int:
    embedded = None
    if not os.environ.get("DATABASE_URL"):
        embedded = server.start_server()
        os.environ["DATABASE_URL"] = embedded.url
    try:
        # Processes, not threads: each sets its own LANG and working directory.
        with concurrent.futures.ProcessPoolExecutor(2) as pool:
            for line in pool.map(regenerate_one, [path.resolve() for path in paths]):
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
    root = ["--allow-root"] if os.geteuid() == 0 else []  # containers and CI machines often run as root
    os.execv(
        sys.executable,
        [sys.executable, "-m", "jupyter", "lab", str(NOTEBOOKS), "--ip", "127.0.0.1", "--no-browser", *root],
    )
