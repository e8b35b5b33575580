"""The declarative base every Scryer model inherits from; Alembic's env.py reads its metadata."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
