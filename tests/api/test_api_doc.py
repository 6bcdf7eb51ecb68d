"""docs/API.md, the HTTP contract, names the same routes and parameters as /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
HTTP_METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


def documented_operations(text: str) -> dict[tuple[str, str], set[str]]:
    """Each `### \\`METHOD /path\\`` heading, with the names in the first column of its tables."""
    operations: dict[tuple[str, str], set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        if heading := re.fullmatch(r"### `([A-Z]+) (/\S*)`", line.strip()):
            current = operations.setdefault((heading[1], heading[2]), set())
        elif line.startswith("#"):
            current = None
        elif current is not None and line.startswith("| `"):
            current.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return operations


def specified_operations(spec: dict) -> dict[tuple[str, str], set[str]]:
    return {
        (method.upper(), path): {p["name"] for p in operation.get("parameters", [])}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_api_doc_and_openapi_name_the_same_routes_and_parameters(
    seeded_client: TestClient,
) -> None:
    documented = documented_operations(API_DOC.read_text())
    specified = specified_operations(seeded_client.get("/openapi.json").json())
    assert sorted(documented) == sorted(specified), "routes differ between docs/API.md and spec"
    for operation, parameters in specified.items():
        assert documented[operation] == parameters, f"parameters of {operation} differ"


def test_the_doc_check_reads_headings_and_tables() -> None:
    text = "### `GET /a`\n\n| parameter | meaning |\n| `x`, `y` | `z` is not one |\n## B\n| `w` |"
    assert documented_operations(text) == {("GET", "/a"): {"x", "y"}}
