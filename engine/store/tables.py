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


class ClientKeyRow(SQLModel, table=True):
    """A client key (`engine keys add`): its public id, and an HMAC of its secret under a
    salt of its own; never the key itself."""

    __tablename__ = "client_keys"

    name: str = Field(primary_key=True, max_length=100)
    key_id: str = Field(max_length=32, unique=True)
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    digest: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    rpm: int | None = None  # requests per minute, None for no limit
    tpm: int | None = None  # tokens per minute
    created_at: float = 0.0
    revoked_at: float | None = None


class RateWindowRow(SQLModel, table=True):
    """What one limited scope (a client key, a route) used in one minute: the processes
    sharing the store count into the same row."""

    __tablename__ = "rate_windows"
    __table_args__ = (Index("ix_rate_windows_window", "window"),)

    scope: str = Field(primary_key=True, max_length=255)
    window: int = Field(sa_column=Column(BigInteger, primary_key=True))  # minutes since the epoch
    requests: int = 0
    tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class AuthFailureRow(SQLModel, table=True):
    """Wrong client keys from one address: how many in a row, and until when it is blocked."""

    __tablename__ = "auth_failures"

    address: str = Field(primary_key=True, max_length=255)
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0
