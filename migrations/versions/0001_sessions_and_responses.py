"""Sessions (one row per stage value, and a revision each) and stored Responses.

Revision ID: 0001
Revises:
Created: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_values",
        sa.Column("session_id", sa.String(length=255), primary_key=True),
        sa.Column("namespace", sa.String(length=100), primary_key=True),
        sa.Column("key", sa.String(length=255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "session_revisions",
        sa.Column("session_id", sa.String(length=255), primary_key=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_session_revisions_changed_at", "session_revisions", ["changed_at"])
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(length=255), primary_key=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("messages", sa.LargeBinary(), nullable=False),
        sa.Column("continuation", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_stored_responses_created_at", "stored_responses", ["created_at"])


def downgrade() -> None:
    op.drop_table("stored_responses")
    op.drop_table("session_revisions")
    op.drop_table("session_values")
