"""The store's tables (SQLModel). The migrations in ``migrations/versions`` create them;
a change here needs a migration (a test compares the two)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


class SessionValue(SQLModel, table=True):
    """One value a stage keeps for a session: one row per key, so that two processes
    changing different keys of one session both keep their change."""

    __tablename__ = "session_values"

    session_id: str = Field(primary_key=True, max_length=255)
    namespace: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=255)
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON


class SessionRevision(SQLModel, table=True):
    """How often a session has changed, and when last: the processes caching sessions
    read the recent ones to know which copies are stale."""

    __tablename__ = "session_revisions"
    __table_args__ = (Index("ix_session_revisions_changed_at", "changed_at"),)

    session_id: str = Field(primary_key=True, max_length=255)
    revision: int = Field(sa_column=Column(BigInteger, nullable=False))
    changed_at: float = 0.0  # seconds since the epoch, the writer's clock


class StoredResponseRow(SQLModel, table=True):
    """A completed Responses-API response and the conversation it ends
    (`engine.stored_responses.StoredResponse`)."""

    __tablename__ = "stored_responses"
    __table_args__ = (Index("ix_stored_responses_created_at", "created_at"),)

    id: str = Field(primary_key=True, max_length=255)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # JSON
    messages: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # JSON
    continuation: str | None = Field(default=None, max_length=255)
    created_at: float = 0.0
