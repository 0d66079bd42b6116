"""Client keys (hashed), rate-limit windows, and failed key attempts per address.

Revision ID: 0002
Revises: 0001
Created: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_keys",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("key_id", sa.String(length=32), nullable=False, unique=True),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "rate_windows",
        sa.Column("scope", sa.String(length=255), primary_key=True),
        sa.Column("window", sa.BigInteger(), primary_key=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rate_windows_window", "rate_windows", ["window"])
    op.create_table(
        "auth_failures",
        sa.Column("address", sa.String(length=255), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("last_failure", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_failures")
    op.drop_index("ix_rate_windows_window", "rate_windows")
    op.drop_table("rate_windows")
    op.drop_table("client_keys")
