"""entity names looked up without accents: entity_names.folded again by lookup_key

Revision ID: c4e8a1f2b3d6
Revises: b7c1d2e3f4a5
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from app.ingest.names import lookup_key

revision: str = "c4e8a1f2b3d6"
down_revision: str | None = "b7c1d2e3f4a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = sa.table("entity_names", sa.column("entity_pk"), sa.column("name"), sa.column("folded"))


def _refold(key: Callable[[str], str]) -> None:
    """Set every name's folded form to `key(name)` where it differs."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(NAMES.c.entity_pk, NAMES.c.name, NAMES.c.folded)).all()
    changed = [
        {"entity": pk, "named": name, "refolded": key(name)}
        for pk, name, folded in rows
        if key(name) != folded
    ]
    if changed:
        bind.execute(
            NAMES.update()
            .where(
                NAMES.c.entity_pk == sa.bindparam("entity"), NAMES.c.name == sa.bindparam("named")
            )
            .values(folded=sa.bindparam("refolded")),
            changed,
        )


def upgrade() -> None:
    _refold(lookup_key)


def _before(name: str) -> str:
    """The lookup form before this revision: case and spacing only, and a leading "the"."""
    words = name.casefold().split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


def downgrade() -> None:
    _refold(_before)
