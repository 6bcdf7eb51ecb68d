"""64-bit integers on PostgreSQL

Revision ID: 5e0b7c2d91a4
Revises: c4e8a1f2b3d6
Create Date: 2026-12-05 07:00:00

SQLite's integers are 64-bit already; PostgreSQL's INTEGER columns and SERIAL sequences
become BIGINT, so both backends hold and compare the same numbers (app.models.INT64).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0b7c2d91a4"
down_revision: str | None = "c4e8a1f2b3d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS_OF_TYPE = sa.text(
    "SELECT table_name, column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND data_type = :type "
    "AND table_name <> 'alembic_version' ORDER BY table_name, ordinal_position"
)


def upgrade() -> None:
    _retype("integer", "bigint")


def downgrade() -> None:
    _retype("bigint", "integer")


def _retype(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    columns = bind.execute(COLUMNS_OF_TYPE, {"type": old}).all()
    by_table: dict[str, list[str]] = {}
    for table, column in columns:
        by_table.setdefault(table, []).append(column)
    quote = bind.dialect.identifier_preparer.quote
    for table, names in by_table.items():
        # One ALTER per table: PostgreSQL rewrites each table once.
        changes = ", ".join(f"ALTER COLUMN {quote(n)} TYPE {new}" for n in names)
        op.execute(f"ALTER TABLE {quote(table)} {changes}")
        for name in names:
            sequence = bind.scalar(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": name}
            )
            if sequence is not None:
                op.execute(f"ALTER SEQUENCE {sequence} AS {new}")
