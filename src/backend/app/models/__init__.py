"""Import every model here so ``Base.metadata`` is complete when Alembic autogenerates or checks."""

from src.backend.app.db.base import Base
from src.backend.app.models.task import Task
from src.backend.app.models.user import User

metadata = Base.metadata  # what Alembic compares against (and pytest-alembic looks for)

__all__ = ["Base", "Task", "User", "metadata"]
