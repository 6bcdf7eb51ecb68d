"""GET /timeline: counts per interval over every filter of GET /articles, from the index."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.filters import ArticleFilters
from app.api.timeline import Buckets, TimelineParams, default_interval
from app.main import create_app
from app.search.base import Span
from app.search.scanning import _bucketed
from tests.conftest import make_settings, migrated_engine
from tests.timeline_corpus import ARTICLES

PUTIN = "eec920038819fa72"  # stable_id of the entity "Vladimir Putin"

FILTERS = [
    {},
    {"q": "pipeline"},
    {"q": "grain -Moscow"},
    {"person": "Vladimir Putin"},
    {"person": "angela merkel", "place": "Berlin"},
    {"place": "Moscow"},
    {"org": "Reuters"},
    {"entity": PUTIN},
    {"source": "BBC"},
    {"source": ["Reuters", "al jazeera"]},
    {"published_from": "2023-03-01"},
    {"published_to": "2023-06-30", "q": "grain"},
    {"published_from": "2023-01-03", "published_to": "2023-12-31", "source": "Reuters"},
]


def listing(client: TestClient, params: dict) -> list[dict]:
    response = client.get("/articles", params={**params, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def timeline(client: TestClient, params: dict) -> dict:
    response = client.get("/timeline", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("params", FILTERS)
def test_counts_are_those_of_the_listing_by_month(corpus_client: TestClient, params: dict) -> None:
    items = listing(corpus_client, params)
    result = timeline(corpus_client, {**params, "interval": "month"})
    dated = Counter(item["published_at"][:7] + "-01" for item in items if item["published_at"])
    shown = {b["start"]: b["count"] for b in result["buckets"] if b["count"]}
    assert shown == dated
    assert result["undated"] == sum(1 for item in items if not item["published_at"])
    assert result["total"] == len(items) and not result["estimated"]


def test_every_interval_is_there_in_order_empty_ones_too(corpus_client: TestClient) -> None:
    result = timeline(corpus_client, {"interval": "month"})
    starts = [b["start"] for b in result["buckets"]]
    assert starts[0] == "2023-01-01" and starts[-1] == "2024-06-01" and len(starts) == 18
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    counts = [b["count"] for b in result["buckets"]]
    assert counts[:4] == [3, 0, 2, 0]  # January, an empty February, March, April
    dated = sum(1 for day, _, _ in ARTICLES if day)
    assert sum(counts) == dated and result["undated"] == len(ARTICLES) - dated == 2


def test_weeks_start_on_monday_and_years_on_new_year(corpus_client: TestClient) -> None:
    weeks = timeline(corpus_client, {"interval": "week", "source": "Reuters"})["buckets"]
    assert weeks[0] == {"start": "2023-01-02", "count": 2}  # Monday 2 and Thursday 5 January
    assert all(date.fromisoformat(b["start"]).weekday() == 0 for b in weeks)
    years = timeline(corpus_client, {"interval": "year"})["buckets"]
    assert years == [{"start": "2023-01-01", "count": 7}, {"start": "2024-01-01", "count": 2}]
    days = timeline(corpus_client, {"interval": "day", "published_from": "2024-02-28"})
    assert days["buckets"][:3] == [
        {"start": "2024-02-28", "count": 0},
        {"start": "2024-02-29", "count": 1},
        {"start": "2024-03-01", "count": 0},
    ]
    assert days["undated"] == 0  # a date filter leaves the undated out, as listings do


def test_the_default_interval_gives_a_chart_of_at_most_200_bars(
    corpus_client: TestClient,
) -> None:
    whole = timeline(corpus_client, {})  # 2023-01-02 to 2024-06-01: 518 days, 75 weeks
    assert whole["interval"] == "week" and 10 <= len(whole["buckets"]) <= 200
    january = timeline(
        corpus_client, {"published_from": "2023-01-01", "published_to": "2023-01-31"}
    )
    assert january["interval"] == "day" and len(january["buckets"]) == 31
    assert default_interval(date(2000, 1, 1), date(2015, 1, 1)) == "month"  # 181 months
    assert default_interval(date(1900, 1, 1), date(2024, 1, 1)) == "year"


def test_one_article_per_story_counts_stories(corpus_client: TestClient) -> None:
    for params in ({}, {"person": "Vladimir Putin"}, {"q": "grain"}):
        stories = corpus_client.get("/articles", params={**params, "dedupe": True}).json()
        result = timeline(corpus_client, {**params, "dedupe": True})
        assert result["total"] == stories["total"] < len(listing(corpus_client, params))


def test_stories_count_in_the_bucket_of_their_day() -> None:
    days = {date(2023, 1, 2).toordinal(): 1, date(2023, 1, 31).toordinal(): 2, 0: 1}
    buckets = Buckets(TimelineParams(interval="month", published_to=date(2023, 2, 1)))
    span, counts = _bucketed((days, False), buckets)
    assert span == Span(date(2023, 1, 2), date(2023, 1, 31), undated=1)
    assert [date.fromordinal(b) for b in buckets.bounds] == [
        date(2023, 1, 1),
        date(2023, 2, 1),
        date(2023, 3, 1),
    ]
    assert counts == [3, 0]


def test_the_last_interval_may_end_after_the_last_date() -> None:
    buckets = Buckets(TimelineParams(interval="month"))
    assert buckets(Span(date(9999, 12, 5), date(9999, 12, 31), 0))[-1] == date.max.toordinal() + 1
    weeks = Buckets(TimelineParams(interval="week"))(Span(date(9999, 12, 31), None, 0))
    assert weeks == [date(9999, 12, 27).toordinal(), date(9999, 12, 27).toordinal() + 7]


def test_a_story_filter_counts_its_articles(corpus_client: TestClient) -> None:
    story = corpus_client.get("/stories", params={"sort": "size"}).json()["items"][0]
    result = timeline(corpus_client, {"story": story["id"], "interval": "day"})
    assert result["total"] == story["article_count"]
    assert result["buckets"][0]["start"] == story["first_published"]
    assert result["buckets"][-1]["start"] == story["last_published"]


@pytest.mark.parametrize(
    "params",
    [
        {"person": "Nobody At All"},
        {"source": "Nowhere Gazette"},
        {"entity": "0000000000000000"},
        {"q": "xylophone"},
        {"story": "no-such-story"},
    ],
)
def test_nothing_matching_is_an_empty_timeline(corpus_client: TestClient, params: dict) -> None:
    assert timeline(corpus_client, params) == {
        "interval": "day",
        "buckets": [],
        "undated": 0,
        "total": 0,
        "estimated": False,
    }


@pytest.mark.parametrize("params", [{}, {"q": "grain"}, {"published_from": "2024-01-01"}])
def test_a_new_corpus_with_nothing_in_it_counts_zero(tmp_path: Path, params: dict) -> None:
    settings = make_settings(tmp_path)
    migrated_engine(settings)
    with TestClient(create_app(settings)) as client:
        response = client.get("/timeline", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0
    assert all(bucket["count"] == 0 for bucket in response.json()["buckets"])


def test_dates_asked_for_are_covered_even_with_nothing_in_them(corpus_client: TestClient) -> None:
    params = {"q": "xylophone", "published_from": "2020-01-01", "published_to": "2020-12-31"}
    result = timeline(corpus_client, {**params, "interval": "month"})
    assert len(result["buckets"]) == 12
    assert {b["count"] for b in result["buckets"]} == {0} and result["total"] == 0
    same_day = {"published_from": "2024-01-01", "published_to": "2024-01-01"}
    assert [b["start"] for b in timeline(corpus_client, same_day)["buckets"]] == ["2024-01-01"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "fortnight"}, "interval"),
        ({"published_from": "2024-13-01"}, "published_from"),
        ({"published_to": "0"}, "published_to"),
        ({"q": "x" * 501}, "q"),
        ({"dedupe": "maybe"}, "dedupe"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    corpus_client: TestClient, params: dict, field: str
) -> None:
    response = corpus_client.get("/timeline", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_too_many_intervals_is_a_400_saying_so(corpus_client: TestClient) -> None:
    response = corpus_client.get("/timeline?interval=day&published_from=0001-01-01")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"].startswith("interval: 739038 intervals of a day")


def test_the_widest_span_in_years_is_answered(corpus_client: TestClient) -> None:
    params = {"interval": "year", "published_from": "0001-01-01", "published_to": "9999-12-31"}
    result = timeline(corpus_client, params)
    assert len(result["buckets"]) == 9999 and result["buckets"][-1]["start"] == "9999-01-01"
    assert result["total"] == len(ARTICLES) - 2


def test_timeline_is_documented_with_the_filters_of_articles(corpus_client: TestClient) -> None:
    spec = corpus_client.get("/openapi.json").json()
    operation = spec["paths"]["/timeline"]["get"]
    names = [p["name"] for p in operation["parameters"]]
    articles = {p["name"] for p in spec["paths"]["/articles"]["get"]["parameters"]}
    filters = set(ArticleFilters.model_fields)
    assert set(names) == filters | {"interval"} and filters < articles
    assert operation["description"] or operation["summary"]
    schema = spec["components"]["schemas"]["Timeline"]
    assert schema["examples"][0]["buckets"]


def test_timeline_and_export_of_the_seeds(seeded_client: TestClient) -> None:
    import json

    timeline = seeded_client.get("/timeline", params={"q": "Ossetia", "interval": "year"}).json()
    assert timeline["buckets"] == [{"start": "2017-01-01", "count": 1}]
    assert timeline["undated"] == 2 and timeline["total"] == 3
    found = seeded_client.get("/articles", params={"q": "Ossetia"}).json()["items"]
    listed = [i["id"] for i in found]
    for form in ("ndjson", "csv"):
        params = {"q": "Ossetia", "format": form, "fields": "id,credits", "include": "entities"}
        response = seeded_client.get("/articles/export", params=params)
        assert response.status_code == 200
        lines = response.text.strip().splitlines()
        if form == "ndjson":
            records = [json.loads(line) for line in lines]
            assert [r["id"] for r in records] == listed
            assert all(r["entities"] for r in records)
        else:
            assert lines[0] == "id,credits,people,places,organisations" and len(lines) == 4
