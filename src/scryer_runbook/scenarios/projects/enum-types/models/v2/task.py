# src/backend/app/models/task.py, version 2 of the enum-types runbook: an archive table shares the status type
from sqlalchemy import Column, DateTime, Enum, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import UUID

from src.backend.app.db.base import Base

STATUS = Enum("todo", "done", name="task_status")


class Task(Base):
    __tablename__ = "tasks"

    id = Column(UUID(as_uuid=True), primary_key=True)
    user_id = Column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title = Column(String(200), nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    status = Column(STATUS, nullable=False, server_default="todo")

    __table_args__ = (Index("ix_tasks_created_at", "created_at"),)


class TaskArchive(Base):
    __tablename__ = "task_archive"

    id = Column(UUID(as_uuid=True), primary_key=True)
    title = Column(String(200), nullable=False)
    status = Column(STATUS, nullable=False)
