"""Reproduce steps: each breaks a sandbox database (or a throwaway copy of the scripts) the way a runbook describes.

The notebooks call these to reproduce, and the doctor's tests call the same ones, so a runbook and the doctor
can never disagree about what a failure looks like. One module per runbook; all of them are re-exported here,
so a notebook writes ``scenarios.branch_scripts(...)``.
"""

from scryer_runbook.scenarios.already_exists import *  # noqa: F403
from scryer_runbook.scenarios.autogenerate_drift import *  # noqa: F403
from scryer_runbook.scenarios.concurrent_index import *  # noqa: F403
from scryer_runbook.scenarios.database_ahead import *  # noqa: F403
from scryer_runbook.scenarios.enum_types import *  # noqa: F403
from scryer_runbook.scenarios.migration_blocked import *  # noqa: F403
from scryer_runbook.scenarios.multiple_heads import *  # noqa: F403
from scryer_runbook.scenarios.not_ready import *  # noqa: F403
from scryer_runbook.scenarios.permissions import *  # noqa: F403
from scryer_runbook.scenarios.version_too_long import *  # noqa: F403
