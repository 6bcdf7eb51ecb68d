"""Entities: the people, places and organisations the articles mention."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, TypeAdapter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from app.api.cursors import Count, Cursors, CursorsDep, RowId
from app.api.deps import CheckedRoute, QueryModel, QueryParams, problems
from app.db import SessionDep
from app.errors import NotFound
from app.ingest.names import lookup_key
from app.models import Entity, EntityName, Mention
from app.schemas import EntityDetail, EntityPage, EntitySummary, RelatedEntity

router = APIRouter(prefix="/entities", tags=["entities"], route_class=CheckedRoute)

MAX_RELATED = 100


class EntityParams(QueryParams):
    """Query parameters of GET /entities."""

    type: Literal["person", "place", "org"] | None = Field(
        None, description="Only entities of this kind"
    )
    q: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Name or alias prefix, case- and accent-insensitive",
    )
    limit: int = Field(20, ge=1, le=100, description="Items per page, 1 to 100")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page")


ENTITY_PARAMS = QueryModel(EntityParams)


@router.get(
    "",
    response_model=EntityPage,
    responses=problems(400, 422),
    openapi_extra=ENTITY_PARAMS.openapi,
)
def list_entities(
    params: Annotated[EntityParams, Depends(ENTITY_PARAMS)],
    session: SessionDep,
    cursors: CursorsDep,
) -> EntityPage:
    """List entities, most articles first; filter by type and by name or alias prefix."""
    statement = select(Entity).options(selectinload(Entity.names))
    if params.type:
        statement = statement.where(Entity.type == params.type)
    if params.q and (prefix := lookup_key(params.q)):
        # A range on the folded name is a prefix match that can use the index.
        named = select(EntityName.entity_pk).where(
            EntityName.folded >= prefix, EntityName.folded < prefix + "\U0010ffff"
        )
        statement = statement.where(Entity.pk.in_(named))
    if params.cursor:
        count, entity_id = _position(cursors, params)
        statement = statement.where(
            or_(
                Entity.article_count < count,
                and_(Entity.article_count == count, Entity.id > entity_id),
            )
        )
    rows = session.scalars(
        statement.order_by(Entity.article_count.desc(), Entity.id).limit(params.limit + 1)
    ).all()
    items = [EntitySummary.model_validate(e) for e in rows[: params.limit]]
    next_cursor = None
    if len(rows) > params.limit:
        last = items[-1]
        next_cursor = cursors.encode([last.article_count, last.id], params.fingerprint)
    return EntityPage(items=items, next_cursor=next_cursor)


POSITION = TypeAdapter(tuple[Count, RowId])  # (article count, entity id)


def _position(cursors: Cursors, params: EntityParams) -> tuple[int, str]:
    return cursors.decode(params.cursor or "", params.fingerprint, POSITION)


def get_entity_or_404(
    session: SessionDep,
    entity_id: Annotated[str, Path(alias="id", max_length=64, description="Entity id")],
) -> Entity:
    """Load an entity with its names, or answer 404."""
    entity = session.scalar(
        select(Entity).where(Entity.id == entity_id).options(selectinload(Entity.names))
    )
    if entity is None:
        raise NotFound(f"no entity with id {entity_id!r}")
    return entity


@router.get("/{id}", response_model=EntityDetail, responses=problems(404, 422))
def get_entity(
    entity: Annotated[Entity, Depends(get_entity_or_404)],
    session: SessionDep,
    related_limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RELATED,
            description="Related entities listed, the most shared articles first "
            f"(at most {MAX_RELATED})",
        ),
    ] = 20,
) -> EntityDetail:
    """Get one entity and the entities that appear in the same articles."""
    ours, theirs = aliased(Mention), aliased(Mention)
    shared = func.count(func.distinct(theirs.article_pk)).label("articles")
    rows = session.execute(
        select(Entity.id, Entity.name, Entity.type, shared)
        .select_from(ours)
        .join(theirs, theirs.article_pk == ours.article_pk)
        .join(Entity, Entity.pk == theirs.entity_pk)
        .where(ours.entity_pk == entity.pk, theirs.entity_pk != entity.pk)
        .group_by(Entity.id, Entity.name, Entity.type)
        .order_by(shared.desc(), Entity.name)
        .limit(related_limit)
    )
    related = [RelatedEntity(id=i, name=n, type=t, articles=c) for i, n, t, c in rows]
    return EntityDetail(**EntitySummary.model_validate(entity).model_dump(), related=related)
