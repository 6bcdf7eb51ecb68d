"""Health, readiness, docs pages and errors outside the routers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


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
