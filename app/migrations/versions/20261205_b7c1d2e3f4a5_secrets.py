"""secrets: the key that signs cursors, generated once per database

Revision ID: b7c1d2e3f4a5
Revises: f50062f56542
Create Date: 2026-12-05 06:50:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7c1d2e3f4a5"
down_revision: str | None = "f50062f56542"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    # Here, once: every process on this database (every host behind a load balancer) then
    # signs and checks cursors with the same key.
    op.bulk_insert(table, [{"name": "cursor_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("secrets")
