"""The explore page in a real browser, as a person uses it: type a query, pick a facet, click
a timeline bar, page forward, open an article."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

# The page is the same on both backends; the API beneath it runs on both in tests/api.
pytestmark = pytest.mark.sqlite_only("the page's server runs on SQLite; its API is tested on both")


def ready(page, view: str = "search") -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector(f"body[data-ready={view}]")


def navigate(page, act, view: str = "search") -> None:  # type: ignore[no-untyped-def]
    """Do what loads another view (every action of the page is a link or a form), then wait
    until it has shown what the API answered."""
    with page.expect_navigation():
        act()
    ready(page, view)


def query_of(page) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return parse_qs(urlsplit(page.url).query)


def titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator(".hits h2").all_inner_texts()


def test_the_home_page_is_the_explore_page(page, server: str) -> None:  # type: ignore[no-untyped-def]
    redirect = httpx.get(server, follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "explore"
    page.goto("")
    ready(page)
    assert page.url == server + "explore"
    assert page.locator(".summary strong").inner_text() == "14 articles"
    assert len(titles(page)) == 14


def test_type_a_query_pick_a_facet_and_remove_it(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore")
    ready(page)
    page.keyboard.press("/")  # the search box, from the keyboard
    page.keyboard.type("grain")
    navigate(page, lambda: page.keyboard.press("Enter"))
    assert query_of(page)["q"] == ["grain"]
    assert page.locator(".summary strong").inner_text() == "6 articles"
    assert page.locator(".snippet mark").first.inner_text().lower() == "grain"
    navigate(page, lambda: page.locator("#facets a", has_text="Vladimir Putin").click())
    assert query_of(page)["person"] == ["Vladimir Putin"] and query_of(page)["q"] == ["grain"]
    assert page.locator(".chip").all_inner_texts() == ["Person: Vladimir Putin ×"]
    assert page.locator(".summary strong").inner_text() == "3 articles"
    page.keyboard.press("/")  # a new query keeps the filters shown as chips
    page.keyboard.press("Control+A")
    page.keyboard.type("pipeline")
    navigate(page, lambda: page.keyboard.press("Enter"))
    assert query_of(page)["person"] == ["Vladimir Putin"]
    assert page.locator(".summary strong").inner_text() == "4 articles"
    navigate(page, lambda: page.locator(".chip").click())
    assert "person" not in query_of(page) and page.locator(".chip").count() == 0
    assert page.locator(".summary strong").inner_text() == "5 articles"


def test_click_a_timeline_bar_to_filter_to_its_interval(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?source=Reuters")
    ready(page)
    assert page.locator("#timeline h2").inner_text().startswith("Per week")  # 60 weeks
    bars = page.locator("#timeline a.bar-link")
    assert bars.count() == 3  # of 2 January 2023 (two), 27 March 2023 and 26 February 2024
    january = page.locator('#timeline a.bar-link[data-start="2023-01-02"]')
    assert january.get_attribute("aria-label") == "week of 2023-01-02: 2 articles"
    navigate(page, lambda: january.click())
    query = query_of(page)
    assert query["published_from"] == ["2023-01-02"] and query["published_to"] == ["2023-01-08"]
    assert query["source"] == ["Reuters"]
    assert page.locator(".summary strong").inner_text() == "2 articles"
    assert page.locator("#timeline h2").inner_text().startswith("Per day")
    assert page.locator("#timeline a.bar-link").count() == 2


def test_the_undated_articles_are_one_click_away(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?q=grain")
    ready(page)
    navigate(page, lambda: page.get_by_role("link", name="2 undated articles").click())
    assert query_of(page) == {"q": ["grain"], "undated": ["true"]}
    assert page.locator(".chip").all_inner_texts() == ["Undated only ×"]
    assert [m.inner_text() for m in page.locator(".hits .meta").all()] == [
        "BBC · undated",
        "undated",
    ]


def test_a_bar_is_reached_and_used_with_the_keyboard(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?q=memoir")
    ready(page)
    bar = page.locator("#timeline a.bar-link")
    bar.focus()
    navigate(page, lambda: page.keyboard.press("Enter"))
    assert query_of(page)["published_from"] == ["2024-02-29"]


def test_page_forward_and_back_to_the_first_page(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?limit=5")
    ready(page)
    first = titles(page)
    assert len(first) == 5
    navigate(page, lambda: page.get_by_role("link", name="Next page →").click())
    second = titles(page)
    assert len(second) == 5 and not set(first) & set(second)
    assert "cursor" in query_of(page)
    navigate(page, lambda: page.get_by_role("link", name="Next page →").click())
    third = titles(page)
    assert len(third) == 4 and page.get_by_role("link", name="Next page →").count() == 0
    navigate(page, lambda: page.get_by_role("link", name="← First page").click())
    assert titles(page) == first


def test_an_article_with_its_entities_marked_and_its_story(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?q=approved%20integrate")
    ready(page)
    navigate(page, lambda: page.locator(".hits h2 a").first.click(), "article")
    assert "article" in query_of(page) and query_of(page)["q"] == ["approved integrate"]
    heading = page.locator("#article h1").inner_text()
    assert "Putin" in heading or "Russian" in heading
    marked = page.locator(".body mark.person").all_inner_texts()
    assert "Vladimir Putin" in marked
    assert page.locator(".body mark.place").count() > 0
    others = page.locator("#story li a")
    assert others.count() >= 1  # the seeds: three reports of one story
    other = others.first.inner_text()
    navigate(page, lambda: others.first.click(), "article")
    assert page.locator("#article h1").inner_text() == other
    navigate(page, lambda: page.go_back(), "article")
    navigate(page, lambda: page.get_by_role("link", name="← Back to the search").click())
    assert query_of(page) == {"q": ["approved integrate"]}


def test_export_links_carry_the_query(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?q=grain&source=BBC&limit=5")
    ready(page)
    link = page.get_by_role("link", name="CSV").get_attribute("href")
    assert link is not None and link.startswith("articles/export?")
    assert parse_qs(urlsplit(link).query) == {"q": ["grain"], "source": ["BBC"], "format": ["csv"]}
    exported = httpx.get(server + link)
    assert exported.status_code == 200 and len(exported.text.strip().split("\r\n")) == 1 + 2


def test_a_bad_date_in_the_url_is_shown_not_thrown(page, page_errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    page.goto("explore?published_from=someday")
    ready(page)
    assert re.search("published_from", page.locator("#results .error").inner_text())
    assert re.search("published_from", page.locator("#timeline .error").inner_text())
    assert len(page_errors) == 2 and all("422" in e for e in page_errors)  # the two API calls
    page_errors.clear()


def test_the_page_works_offline(page) -> None:  # type: ignore[no-untyped-def]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("explore?q=putin")
    ready(page)
    assert requested and all(url.startswith(page.url.split("explore")[0]) for url in requested)
