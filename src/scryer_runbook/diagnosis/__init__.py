"""Read-only facts about a database and an Alembic project, shared by the runbooks' Diagnose steps and the doctor.

"Read-only" is enforced by the server, not promised: every connection here runs with
``default_transaction_read_only=on`` and a read-only transaction, so an accidental write fails with
``cannot execute ... in a read-only transaction``.

One module per concern; all re-exported here, so a notebook writes ``diagnosis.connect(...)``.
"""

from scryer_runbook.diagnosis.ahead import *  # noqa: F403
from scryer_runbook.diagnosis.blocking import *  # noqa: F403
from scryer_runbook.diagnosis.concurrent_ddl import *  # noqa: F403
from scryer_runbook.diagnosis.core import *  # noqa: F403
from scryer_runbook.diagnosis.enums import *  # noqa: F403
from scryer_runbook.diagnosis.indexes import *  # noqa: F403
from scryer_runbook.diagnosis.locks import *  # noqa: F403
from scryer_runbook.diagnosis.privileges import *  # noqa: F403
from scryer_runbook.diagnosis.project import *  # noqa: F403
from scryer_runbook.diagnosis.readiness import *  # noqa: F403
from scryer_runbook.diagnosis.revisions import *  # noqa: F403
from scryer_runbook.diagnosis.version_column import *  # noqa: F403
from scryer_runbook.diagnosis.versions import *  # noqa: F403
