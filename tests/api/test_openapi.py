"""The OpenAPI document as clients and their generators read it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/ProblemDetail"
HTTP_METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def test_errors_are_declared_as_problems_under_the_media_type_sent(
    seeded_client: TestClient,
) -> None:
    spec = seeded_client.get("/openapi.json").json()
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}}, (
                    f"{method} {path} {status}"
                )
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    sent = seeded_client.get("/articles/nope")
    assert sent.headers["content-type"] == PROBLEM


def test_operation_ids_read_well(seeded_client: TestClient) -> None:
    spec = seeded_client.get("/openapi.json").json()
    ids = {(method, path): op["operationId"] for method, path, op in operations(spec)}
    assert ids[("GET", "/articles")] == "list_articles"
    assert ids[("POST", "/articles")] == "add_article"
    assert ids[("GET", "/articles/{id}")] == "get_article"
    assert len(set(ids.values())) == len(ids)


def undescribed(spec: dict) -> list[str]:
    """Every parameter and schema property of the document without a description."""
    missing = [
        f"{method} {path} parameter {p['name']}"
        for method, path, op in operations(spec)
        for p in op.get("parameters", [])
        if not p.get("description")
    ]
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"schema {name}.{field}")
    return missing


def test_every_parameter_and_field_has_a_description(seeded_client: TestClient) -> None:
    assert undescribed(seeded_client.get("/openapi.json").json()) == []


def test_the_description_check_finds_what_is_missing() -> None:
    spec = {
        "paths": {
            "/a": {"get": {"parameters": [{"name": "x"}, {"name": "y", "description": "Y"}]}}
        },
        "components": {"schemas": {"A": {"properties": {"f": {}, "g": {"description": "G"}}}}},
    }
    assert undescribed(spec) == ["GET /a parameter x", "schema A.f"]


def test_main_operations_have_examples(seeded_client: TestClient) -> None:
    spec = seeded_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in (
        "ArticlePage",
        "ArticleDetail",
        "RawArticleIn",
        "ArticleFieldsIn",
        "StoryPage",
        "EntityPage",
    ):
        assert schemas[name].get("examples"), name


def _forward_to(client: TestClient) -> httpx.MockTransport:
    """An httpx transport answering through the app (the generated client speaks httpx)."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method, str(request.url.raw_path, "ascii"), headers=dict(request.headers)
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(handle)


def test_a_generated_client_reads_a_problem(seeded_client: TestClient, tmp_path: Path) -> None:
    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(seeded_client.get("/openapi.json").json()))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"post_hooks": [], "project_name_override": "nc_client"}))
    generator = Path(sys.executable).parent / "openapi-python-client"
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec_file),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(tmp_path / "nc_client"),
            "--fail-on-warning",
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module("nc_client")
        get_article = importlib.import_module("nc_client.api.articles.get_article")
        problem_model = importlib.import_module("nc_client.models.problem_detail")
        client: Any = package.Client(base_url="http://testserver")
        client.set_httpx_client(
            httpx.Client(base_url="http://testserver", transport=_forward_to(seeded_client))
        )
        answer = get_article.sync_detailed(client=client, id="no-such-article")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "nc_client"]:
            del sys.modules[name]
    assert answer.status_code == 404
    assert isinstance(answer.parsed, problem_model.ProblemDetail)
    assert answer.parsed.status == 404
    assert "no-such-article" in answer.parsed.detail
