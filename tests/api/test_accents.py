"""Accents fold both ways: in search, entity filters and entity lookup; snippets keep them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import write_session
from app.ingest.linking import FoundEntity, Mention
from app.ingest.load import replace_entities
from app.ingest.names import lookup_key
from app.main import create_app
from app.models import Article
from tests.api.test_articles import ids_of
from tests.conftest import ingest, make_settings, migrated_engine

TEXTS = {
    "turkey.txt": "Talks in Ankara\n\nPresident Recep Tayyip Erdoğan met the delegation on "
    "Monday and said the talks had gone well.",
    "paris.txt": "A new movement\n\nThe association Désir d'avenir held its first meeting; "
    "its members spoke of their désir for change, quoting Æsop.",
}
ENTITIES = {
    "turkey.txt": [("person", "Recep Tayyip Erdoğan")],
    "paris.txt": [("org", "Désir d'avenir")],
}


@pytest.fixture(scope="module")
def accented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict]]:
    data = tmp_path_factory.mktemp("accents")
    files = data / "files"
    files.mkdir()
    for name, text in TEXTS.items():
        (files / name).write_text(text, encoding="utf-8")
    settings = make_settings(data / "app")
    engine = migrated_engine(settings)
    ingest(engine, [files], None)
    with write_session(engine) as session:
        rows = session.execute(select(Article.pk, Article.origin, Article.body, Article.id)).all()
        replace_entities(
            session, {pk: _found(body, o.removeprefix("file:")) for pk, o, body, _ in rows}
        )
    by_file = {origin.removeprefix("file:"): article_id for _, origin, _, article_id in rows}
    with TestClient(create_app(settings)) as client:
        yield client, by_file


def _found(body: str, name: str) -> list[FoundEntity]:
    return [
        FoundEntity(
            name=entity,
            type=kind,  # type: ignore[arg-type]
            key=f"{kind}:{lookup_key(entity)}",
            aliases={"Erdoğan"} if kind == "person" else set(),
            mentions=[Mention(text=entity, start=(at := body.find(entity)), end=at + len(entity))],
        )
        for kind, entity in ENTITIES[name]
    ]


@pytest.mark.parametrize(
    ("q", "file"),
    [("Erdogan", "turkey.txt"), ("Erdoğan", "turkey.txt"), ("ERDOGAN", "turkey.txt"),
     ("desir", "paris.txt"), ("désir", "paris.txt"), ('"desir d\'avenir"', "paris.txt"),
     ("erdo*", "turkey.txt"), ("dési*", "paris.txt")],
)  # fmt: skip
def test_search_folds_accents_both_ways(accented, q: str, file: str) -> None:
    client, by_file = accented
    assert ids_of(client.get("/articles", params={"q": q})) == [by_file[file]]


def test_snippets_show_the_original_text(accented) -> None:
    client, _ = accented
    (item,) = client.get("/articles", params={"q": "erdogan"}).json()["items"]
    assert "<mark>Erdoğan</mark>" in item["snippet"]
    (item,) = client.get("/articles", params={"q": "desir"}).json()["items"]
    assert "<mark>Désir</mark>" in item["snippet"] and "<mark>désir</mark>" in item["snippet"]
    (item,) = client.get("/articles", params={"q": "aesop"}).json()["items"]  # æ folds to ae
    assert "<mark>Æsop</mark>" in item["snippet"]


@pytest.mark.parametrize("q", ["Erdoğ", "erdog", "Recep Tayyip Erdogan", "recep tayyip erdoğ"])
def test_entity_lookup_folds_accents(accented, q: str) -> None:
    client, _ = accented
    names = [e["name"] for e in client.get("/entities", params={"q": q}).json()["items"]]
    assert names == ["Recep Tayyip Erdoğan"]


@pytest.mark.parametrize("q", ["désir", "desir", "DESIR D'AVENIR"])
def test_entity_lookup_folds_accents_of_organisations(accented, q: str) -> None:
    client, _ = accented
    names = [e["name"] for e in client.get("/entities", params={"q": q}).json()["items"]]
    assert names == ["Désir d'avenir"]


@pytest.mark.parametrize(
    ("params", "file"),
    [({"person": "Recep Tayyip Erdogan"}, "turkey.txt"),
     ({"person": "recep tayyip erdoğan"}, "turkey.txt"),
     ({"org": "Desir d'avenir"}, "paris.txt")],
)  # fmt: skip
def test_entity_filters_fold_accents(accented, params: dict, file: str) -> None:
    client, by_file = accented
    assert ids_of(client.get("/articles", params=params)) == [by_file[file]]


def test_a_database_from_before_looks_its_names_up_without_accents(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import insert, text

    from app.db import create_db_engine
    from app.migrate import alembic_config, upgrade_to_head
    from app.models import Entity, EntityName

    engine = create_db_engine(make_settings(tmp_path).resolved_database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "b7c1d2e3f4a5")  # the revision before
        row = {"pk": 1, "id": "e1", "key": "person:x", "name": "Erdoğan", "type": "person"}
        connection.execute(insert(Entity.__table__).values(**row, article_count=0, mention_count=0))
        connection.execute(
            insert(EntityName.__table__), [{"entity_pk": 1, "name": "Erdoğan", "folded": "erdoğan"}]
        )
    upgrade_to_head(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT folded FROM entity_names")).scalar() == "erdogan"
