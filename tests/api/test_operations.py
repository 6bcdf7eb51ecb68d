"""Health, readiness, docs pages and errors outside the routers."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.api.articles import ArticleParams
from app.api.entities import EntityParams
from app.api.stories import StoryParams


def test_health_and_readiness(seeded_client: TestClient) -> None:
    assert seeded_client.get("/healthz").json() == {"status": "ok"}
    ready = seeded_client.get("/readyz").json()
    assert ready == {"status": "ready", "schema_at_head": True, "index_lag": 0}


def test_docs_pages_load_their_assets_from_the_app(seeded_client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = seeded_client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            assert seeded_client.get(asset).status_code == 200


def test_openapi_documents_every_route(seeded_client: TestClient) -> None:
    paths = seeded_client.get("/openapi.json").json()["paths"]
    for path in ("/articles", "/articles/{id}", "/sources", "/healthz", "/readyz"):
        assert path in paths
    params = {p["name"] for p in paths["/articles"]["get"]["parameters"]}
    assert {"q", "source", "published_from", "published_to", "sort", "limit", "cursor"} <= params


def test_unknown_route_is_a_problem(seeded_client: TestClient) -> None:
    response = seeded_client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "model"),
    [("/articles", ArticleParams), ("/entities", EntityParams), ("/stories", StoryParams)],
)
def test_query_models_are_documented_as_fastapi_documents_them(
    seeded_client: TestClient, path: str, model: type[BaseModel]
) -> None:
    """Our one-call query validation documents the same parameters as FastAPI's `Query()`."""

    def route(params):  # type: ignore[no-untyped-def]
        """FastAPI's own query model, for comparison."""

    # Set here: this module's annotations are strings, and `model` is a local name.
    route.__annotations__ = {"params": Annotated[model, Query()], "return": None}
    reference = FastAPI()
    reference.get(path)(route)
    expected = reference.openapi()["paths"][path]["get"]["parameters"]
    documented = seeded_client.get("/openapi.json").json()["paths"][path]["get"]["parameters"]
    assert documented == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=x", "limit"), ("sort=up", "sort"), ("q=" + "x" * 501, "q")],
)
def test_bad_query_parameters_are_422_naming_the_field(
    seeded_client: TestClient, query: str, field: str
) -> None:
    response = seeded_client.get(f"/articles?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("path", ["/articles", "/timeline", "/articles/export", "/stories"])
def test_a_single_valued_parameter_given_twice_is_422(seeded_client: TestClient, path: str) -> None:
    response = seeded_client.get(f"{path}?q=russia&q=georgia")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["q"]
    assert seeded_client.get(f"{path}?q=russia").status_code == 200
