"""Fuzz every operation of the app's own /openapi.json with schemathesis, in-process.

Positive and negative examples (schemathesis' default modes), up to 100 per operation, every
built-in check on: no 5xx, every status code and content type documented, every body matching
its schema, invalid input rejected, valid input accepted, and auth not ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from app.main import create_app
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

KEY = "fuzz-key-for-the-tests"
EXAMPLES = 100
# Operations taking an opaque `cursor`: a string that fits its schema but that this server did
# not issue is a documented 400 (Bad Cursor), so valid-looking data may get a 400 there.
CURSOR_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "auth": {"openapi": {"APIKeyHeader": {"api_key": KEY}}},
        "operations": [
            {
                "include-method": "GET",
                "include-path-regex": r"^/(articles|entities|stories|stories/\{id\})$",
                "checks": {"positive_data_acceptance": {"expected-statuses": CURSOR_STATUSES}},
            }
        ],
    }
)

# The app is built at import so its schema can parametrize the test (schemathesis' lazy
# fixture loader does not work with this pytest); it starts (lifespan) at the first request,
# after `fuzz_app` has put a seeded database where its settings point.
APP_SETTINGS = make_settings(Path("unset"), api_keys=[KEY])
APP = create_app(APP_SETTINGS)
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)
schema.app = APP


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, extractor):  # type: ignore[no-untyped-def]
    APP_SETTINGS.data_dir = tmp_path_factory.mktemp("fuzz")
    ingest(migrated_engine(APP_SETTINGS), [SEEDS], extractor)
    APP.state.extractor = extractor  # the session's spaCy model, not a second load
    return APP


def test_schema_is_the_one_served(fuzz_app) -> None:  # type: ignore[no-untyped-def]
    assert TestClient(fuzz_app).get("/openapi.json").json() == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples every run: a failure here is reproducible
)
def test_api(case: schemathesis.Case, fuzz_app) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()
