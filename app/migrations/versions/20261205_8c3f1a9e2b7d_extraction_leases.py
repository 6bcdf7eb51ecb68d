"""extraction leases: workers on many hosts share `extract --pending`

Revision ID: 8c3f1a9e2b7d
Revises: 5e0b7c2d91a4
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import INT64

revision: str = "8c3f1a9e2b7d"
down_revision: str | None = "5e0b7c2d91a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "extraction_leases",
        sa.Column("article_pk", INT64, autoincrement=False, nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["articles.pk"],
            name=op.f("fk_extraction_leases_article_pk_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_pk", name=op.f("pk_extraction_leases")),
    )


def downgrade() -> None:
    op.drop_table("extraction_leases")
