"""The relevance workbench and the experiment dashboard on the real stack (docs/ui.md): who may open
them, what a comparison shows (checked against the golden file and the two rankings themselves),
that a preview leaves no trace in UBI, and the lists read from UBI."""

from __future__ import annotations

import csv
import gzip
import math
import re
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from quarry.api_keys import temporary_key
from quarry.ubi import UBI_QUERIES
from tests.integration.test_search_experiments import KEYWORD_ONLY

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "judgments.tsv.gz"


def golden_grades(query: str) -> dict[str, int]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8", newline="") as handle:
        return {
            r["product_id"]: int(r["grade"])
            for r in csv.DictReader(handle, delimiter="\t")
            if r["query"] == query
        }


def ndcg10(grades_in_order: list[int], all_grades: list[int]) -> float:
    """Written out here, not imported: the page's number must match an independent computation."""

    def gain(grades: list[int]) -> float:
        return sum((2**g - 1) / math.log2(rank + 1) for rank, g in enumerate(grades[:10], 1))

    return gain(grades_in_order) / gain(sorted(all_grades, reverse=True))


@pytest.fixture(scope="module")
def console(app_client, demo_catalog, tmp_path_factory) -> Iterator:
    directory = Path(tmp_path_factory.mktemp("experiments"))
    (directory / "keyword_retrieval.json").write_bytes(msgspec.json.encode(KEYWORD_ONLY))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(directory), cache_warm_queries=0)
    with app_client(settings) as client:  # sends the session's key, which holds `debug`
        yield client


def side(html: str, name: str) -> str:
    return html.split(f'data-side="{name}"', 1)[1].split("</section>", 1)[0]


def ranked(section: str) -> list[tuple[str, str, int | None]]:
    """(product id, movement, grade) in rank order."""
    found = []
    for attributes in re.findall(r"<li (data-product-id=[^>]+)>", section):
        product = re.search(r'data-product-id="([^"]+)"', attributes).group(1)  # type: ignore[union-attr]
        moved = re.search(r'data-movement="([^"]+)"', attributes).group(1)  # type: ignore[union-attr]
        grade = re.search(r'data-grade="(\d)"', attributes)
        found.append((product, moved, int(grade.group(1)) if grade else None))
    return found


def test_two_configurations_side_by_side_with_grades_ndcg_and_movement(console) -> None:
    page = console.get("/ui/workbench", params={"q": "running shoes", "left": "formula", "right": "keyword"})
    assert page.status_code == 200, page.text
    left, right = ranked(side(page.text, "formula")), ranked(side(page.text, "keyword"))
    assert len(left) == len(right) == 20
    judged = golden_grades("running shoes")
    assert judged, "running shoes is a golden query"
    for products, name in ((left, "formula"), (right, "keyword")):
        assert [grade for _, _, grade in products] == [
            judged.get(p) for p, _, _ in products
        ]  # None: unjudged
        shown = float(re.search(r'data-ndcg="([^"]+)"', side(page.text, name)).group(1))  # type: ignore[union-attr]
        expected = ndcg10([judged.get(p, 0) for p, _, _ in products], list(judged.values()))
        assert shown == pytest.approx(expected, abs=1e-4)
    left_rank = {p: i for i, (p, _, _) in enumerate(left, 1)}
    for rank, (product, moved, _) in enumerate(right, 1):
        before = left_rank.get(product)
        expected_move = (
            "new"
            if before is None
            else "same"
            if before == rank
            else f"up {before - rank}"
            if before > rank
            else f"down {rank - before}"
        )
        assert moved == expected_move, (product, rank, before)
    assert "Why here" in page.text and "weights" in page.text  # each result's score breakdown


def test_a_variant_is_a_configuration_and_searches_as_it_defines(console) -> None:
    page = console.get(
        "/ui/workbench",
        params={"q": "trail running shoes", "left": "live", "right": "keyword_retrieval=keyword"},
    )
    assert page.status_code == 200, page.text
    read = unescape(side(page.text, "keyword_retrieval=keyword"))
    assert re.search(r"<dt>retrieval</dt><dd>keyword:", read)
    assert 'value="keyword_retrieval=control"' in page.text  # every variant can be chosen


def test_a_preview_is_neither_logged_nor_counted_as_a_shoppers_search(console, engine) -> None:
    probe = f"desk lamp {uuid.uuid4().hex[:6]}"
    assert console.get("/ui/workbench", params={"q": probe}).status_code == 200
    console.app.state.search_service.query_log.flush()
    engine.refresh(UBI_QUERIES)
    logged = engine.search(UBI_QUERIES, {"size": 1, "query": {"term": {"user_query": probe}}})
    assert logged.total == 0


def test_zero_result_queries_come_from_ubi_and_link_to_the_workbench(console) -> None:
    nothing = {"q": f"lamp {uuid.uuid4().hex[:6]}", "brand": "No Such Brand"}  # the filter finds nothing
    for _ in range(3):
        assert console.get("/v1/search", params=nothing).json()["total"] == 0
    console.app.state.search_service.query_log.flush()
    console.app.state.workbench_service.engine.refresh(UBI_QUERIES)
    page = console.get("/ui/workbench", params={"left": "live", "right": "semantic"}).text
    zero = page.split('id="zero"', 1)[1].split("</section>", 1)[0]
    links = {
        unescape(label): unescape(href) for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', zero)
    }
    searched = console.get("/v1/search", params=nothing).json()["query"]["normalized"]
    if searched in links:  # only the top ten are listed; a busy shared UBI may hold ten worse ones
        assert parse_qs(urlsplit(links[searched]).query) == {
            "q": [searched],
            "left": ["live"],
            "right": ["semantic"],
        }
    else:
        counts = [int(n) for n in re.findall(r"\((\d+) searches\)", zero)]
        assert len(counts) == 10 and min(counts) >= 3


def test_golden_losses_compare_every_judged_query(console, demo_catalog, app_client, tmp_path) -> None:
    judgments = tmp_path / "judgments.tsv.gz"
    with gzip.open(judgments, "wt", encoding="utf-8", newline="") as handle:
        handle.write("query\tproduct_id\tgrade\n")
        for query in ("running shoes", "sofa", "noise cancelling headphones"):
            for product, grade in golden_grades(query).items():
                handle.write(f"{query}\t{product}\t{grade}\n")
    settings = msgspec.structs.replace(demo_catalog, judgments_file=str(judgments), cache_warm_queries=0)
    with app_client(settings) as client:
        same = client.get("/ui/workbench/losses", params={"left": "live", "right": "live"})
        assert same.status_code == 200, same.text
        assert "3 golden queries" in same.text and "loses on no golden query" in same.text
        other = client.get("/ui/workbench/losses", params={"left": "live", "right": "semantic"}).text
        rows = re.findall(
            r"<tr><td><a [^>]+>([^<]+)</a></td><td>([\d.]+)</td><td>([\d.]+)</td><td>([+-][\d.]+)</td>", other
        )
        assert rows, "semantic retrieval alone loses somewhere on these queries"
        for query, left, right, difference in rows:
            assert query in ("running shoes", "sofa", "noise cancelling headphones")
            assert float(right) < float(left) and float(difference) == pytest.approx(
                float(right) - float(left), abs=2e-4
            )


def test_unknown_configurations_and_experiments_are_clear_errors(console) -> None:
    bad = console.get("/ui/workbench", params={"q": "sofa", "left": "nope"})
    assert bad.status_code == 400 and "nope" in bad.json()["detail"] and bad.json()["trace_id"]
    assert console.get("/ui/experiments/nope").status_code == 404


def test_the_experiment_dashboard_shows_assignment_srm_and_metrics(console) -> None:
    listing = console.get("/ui/experiments")
    assert listing.status_code == 200 and 'href="/ui/experiments/keyword_retrieval"' in listing.text
    users = [f"dash-{uuid.uuid4().hex[:6]}-{n}" for n in range(12)]
    for user in users:
        assert (
            console.get("/v1/search", params={"q": "trail running shoes", "user_id": user}).status_code == 200
        )
    console.app.state.search_service.query_log.flush()
    console.app.state.workbench_service.engine.refresh(UBI_QUERIES)
    page = console.get("/ui/experiments/keyword_retrieval")
    assert page.status_code == 200
    units = {
        v: int(n) for v, n in re.findall(r'data-variant="([^"]+)".*?data-units="(\d+)"', page.text, re.S)
    }
    assert set(units) == {"control", "keyword"} and sum(units.values()) >= len(users)
    assert 'data-readable="false"' in page.text  # 14,751 per variant are needed
    assert "Sample ratio" in page.text and "ctr" in page.text


@pytest.fixture(scope="module")
def browserless(app_client, demo_catalog) -> Iterator:
    """The app as a browser reaches it: no key on any request."""
    with app_client(msgspec.structs.replace(demo_catalog, cache_warm_queries=0)) as client:
        client.headers.pop("Authorization")
        yield client


def test_the_console_login_keeps_a_debug_key_and_refuses_others(browserless, api_keys) -> None:
    asked = browserless.get("/ui/workbench", params={"q": "sofa"}, follow_redirects=False)
    assert asked.status_code == 303
    location = urlsplit(asked.headers["location"])
    assert location.path == "/ui/console/login" and parse_qs(location.query) == {
        "next": ["/ui/workbench?q=sofa"]
    }
    with (
        temporary_key(api_keys, "console search-only", ("search",)) as search_only,
        temporary_key(api_keys, "console debug", ("search", "debug")) as debug,
    ):
        refused = browserless.post("/ui/console/login", data={"key": search_only, "next": "/ui/workbench"})
        assert refused.status_code == 401 and "lacks the debug scope" in refused.text
        unknown = browserless.post("/ui/console/login", data={"key": "qk_000000000000.nope", "next": ""})
        assert unknown.status_code == 401 and "unknown" in unknown.text
        away = browserless.post(
            "/ui/console/login",
            data={"key": debug, "next": "https://elsewhere.example/"},
            follow_redirects=False,
        )
        assert away.headers["location"] == "/ui/workbench"  # never off the site
        kept = browserless.post(
            "/ui/console/login", data={"key": debug, "next": "/ui/experiments"}, follow_redirects=False
        )
        assert kept.status_code == 303 and kept.headers["location"] == "/ui/experiments"
        cookie = kept.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert browserless.get("/ui/experiments").status_code == 200  # the cookie carries the key
        assert (
            browserless.get("/v1/search", params={"q": "sofa"}).status_code == 401
        )  # only /ui pages read it
        browserless.post("/ui/console/logout")
        assert browserless.get("/ui/experiments", follow_redirects=False).status_code == 303


def test_a_key_kept_to_a_slice_of_the_catalog_may_not_read_the_console(browserless, api_keys) -> None:
    """UBI's lists and readouts cover every shopper of every slice."""
    issued = api_keys.create("console filtered", ("search", "debug"), filters={"in_stock": True})
    try:
        headers = {"Authorization": f"Bearer {issued.token}"}
        for path in ("/ui/workbench", "/ui/experiments"):
            response = browserless.get(path, headers=headers)
            assert response.status_code == 403 and "fixed filters" in response.json()["detail"]
    finally:
        api_keys.revoke(issued.key.key_id)
