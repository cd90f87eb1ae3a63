"""The storefront and its script in a real browser (Debian's Chromium driven by Playwright) against
`python -m api` on the real stack: a shopper searches with suggestions, refines with a facet, follows
a correction, opens a product, adds it to the cart and buys it, and every one of those events reaches
UBI with the query id of the search it came from. The pages are checked with axe-core and by keyboard.

Screenshots go to a temporary folder, or to UI_SCREENSHOTS_DIR (`make ui-screenshots` points it
at reports/ui)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from quarry.api_keys import temporary_key
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.ubi import UBI_EVENTS, UBI_QUERIES
from tests.conftest import running_api

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, refused on a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
# WCAG levels axe reports against; "best-practice" rules (landmarks, headings) run as well.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    chosen = os.environ.get("UI_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# A search experiment randomized by session: the storefront's anonymous visitors are its units.
FUSION = Experiment(
    name=f"storefront_fusion_{uuid.uuid4().hex[:6]}",  # UBI outlives a run: count this run's units only
    layer="fusion",
    variants=[Variant("control", 0.5), Variant("rrf", 0.5, Changes(fusion="rrf"))],
    start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    stop=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    primary_metric="ctr",
    guardrails=["zero_result_rate"],
    minimum_sample=20_000,
    unit="session",
)


@pytest.fixture(scope="module")
def storefront(shop_catalog, api_keys, tmp_path_factory) -> Iterator[str]:
    """The API as `make up` runs it, over the demo catalog, with a storefront key of its own and
    the session experiment above."""
    experiments = Path(tmp_path_factory.mktemp("experiments"))
    (experiments / f"{FUSION.name}.json").write_bytes(msgspec.json.encode(FUSION))
    with temporary_key(api_keys, "storefront browser test", ("search", "recommend", "events")) as token:
        env = {
            "QUARRY_STOREFRONT_KEY": token,
            "QUARRY_PRODUCTS_ALIAS": shop_catalog.products_alias,
            "QUARRY_ARTIFACTS_DIR": shop_catalog.artifacts_dir,
            "QUARRY_EXPERIMENTS_DIR": str(experiments),
        }
        with running_api(**env) as (base, _, _):
            yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
    assert not problems, problems  # a CSP refusal or a script error shows here


@pytest.fixture(scope="module")
def axe_script() -> str:
    """axe-core from npm, fetched into the download cache by ops/ensure-axe (make test runs it)."""
    path = subprocess.run(
        [str(ROOT / "ops" / "ensure-axe")], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(path).read_text()


def events_of(engine, query_id: str, expected: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The UBI events stored for `query_id`, once there are `expected` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        engine.request("POST", f"/{UBI_EVENTS}*/_refresh")
        found = engine.search(f"{UBI_EVENTS}*", {"size": 200, "query": {"term": {"query_id": query_id}}})
        events = [hit.source for hit in found.hits]
        if len(events) >= expected or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def accessibility(page, axe_script: str, screenshots: Path, name: str) -> list[dict[str, Any]]:
    """axe's violations on the page as it is, written beside its screenshot."""
    page.evaluate(axe_script)  # through DevTools: the page's CSP (no inline scripts) does not apply
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    violations = [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]
    (screenshots / f"{name}.accessibility.json").write_text(
        json.dumps({"passes": len(result["passes"]), "violations": violations}, indent=2) + "\n"
    )
    return violations


def test_search_facet_correction_product_cart_and_purchase_reach_ubi_with_their_query_id(
    page, storefront, engine, screenshots, axe_script
) -> None:
    page.goto(f"{storefront}/ui/")
    assert page.locator("section.shelf li.card").count() >= 4  # recommended before any search
    assert not accessibility(page, axe_script, screenshots, "home")

    page.locator("#q").press_sequentially("sof", delay=60)  # as a shopper types
    page.wait_for_function("() => Number(document.body.dataset.suggestions || 0) > 0", timeout=10_000)
    page.locator("#q").fill("running shoes")
    page.locator("#q").press("Enter")
    page.wait_for_url(re.compile(r"/ui/search\?q=running\+shoes$"))
    page.wait_for_function("() => document.body.dataset.eventsSent")
    page.screenshot(path=screenshots / "search.png")
    assert not accessibility(page, axe_script, screenshots, "search")
    query_id = page.locator("ol.grid").get_attribute("data-query-id")
    shown = page.locator("ol.grid li.card").count()
    assert shown == 24

    brand_link = page.locator('section[data-facet="brand"] a').first
    brand = brand_link.inner_text().rsplit(" (", 1)[0]
    brand_link.click()
    page.wait_for_url(re.compile(r"brand="))
    assert parse_qs(urlsplit(page.url).query)["brand"] == [brand]
    assert page.locator("a.chip").first.inner_text().startswith(f"Brand: {brand}")
    page.wait_for_function("() => document.body.dataset.eventsSent")
    page.screenshot(path=screenshots / "facet.png")
    facet_query_id = page.locator("ol.grid").get_attribute("data-query-id")
    assert facet_query_id != query_id
    facet_cards = page.locator("ol.grid li.card").count()

    first = page.locator("ol.grid li.card").first
    product_id = first.get_attribute("data-product-id")
    first.locator("a.title").click()
    page.wait_for_url(re.compile(rf"/ui/products/{product_id}\?"))
    page.wait_for_function("() => document.body.dataset.eventsSent")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_function("() => document.getElementById('status').textContent.includes('cart')")
    page.get_by_role("button", name="Buy now").click()
    page.wait_for_function("() => document.getElementById('status').textContent.includes('order')")
    page.screenshot(path=screenshots / "product.png")
    assert not accessibility(page, axe_script, screenshots, "product")

    stored = events_of(engine, facet_query_id, expected=facet_cards + 4)  # and click, view, cart, purchase
    by_action: dict[str, list[dict[str, Any]]] = {}
    for event in stored:
        by_action.setdefault(event["action_name"], []).append(event)
    impressions = by_action["impression"]
    assert len(impressions) == facet_cards
    ranks = sorted(e["event_attributes"]["position"]["ordinal"] for e in impressions)
    assert ranks == list(range(facet_cards))  # UBI's ordinal is 0-based: the first card is 0
    for action in ("click", "view", "add_to_cart", "purchase"):
        [event] = by_action[action]
        assert event["event_attributes"]["object"]["object_id"] == product_id
        assert event["event_attributes"]["position"]["ordinal"] == 0  # the first card
        assert event["application"] == "storefront"
    sessions = {event["session_id"] for event in stored}
    assert len(sessions) == 1  # one browser, one session, pseudonymized or not
    assert len(events_of(engine, query_id, expected=shown)) == shown  # the first search's impressions

    engine.refresh(UBI_QUERIES)
    record = engine.get_document(UBI_QUERIES, facet_query_id)
    assert record["application"] == "storefront" and record["user_query"] == "running shoes"


def page_size_of(events: list[dict[str, Any]]) -> int:
    return len(
        {e["event_attributes"]["object"]["object_id"] for e in events if e["action_name"] == "impression"}
    )


def test_a_misspelt_query_shows_what_was_searched_and_chips_remove_filters(
    page, storefront, screenshots
) -> None:
    page.goto(f"{storefront}/ui/search?q=wireles+headphnes+under+100")
    notice = page.locator("p.notice").first.inner_text()
    assert "wireless headphones" in notice
    chip = page.locator("a.chip").first
    assert "100" in chip.inner_text()
    page.screenshot(path=screenshots / "did-you-mean.png")
    chip.click()
    page.wait_for_url(re.compile(r"q=wireles"))
    assert "under" not in parse_qs(urlsplit(page.url).query)["q"][0]
    assert page.locator("a.chip").count() == 0


def test_the_pages_work_from_the_keyboard(page, storefront) -> None:
    page.goto(f"{storefront}/ui/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("desk lamp")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/search\?q=desk\+lamp"))
    # Tab through to the first result and open it with Enter: every control is reachable.
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('li.card') !== null"):
            break
    else:
        raise AssertionError("no result is reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/products/"))
    outline = page.evaluate(
        "() => { const b = document.querySelector('#add-to-cart'); b.focus();"
        " return getComputedStyle(b).outlineStyle; }"
    )
    assert outline != "none"  # focus is visible


def test_the_storefront_key_cannot_do_more_than_its_scopes(storefront, demo_catalog) -> None:
    import httpx

    html = httpx.get(f"{storefront}/ui/").text
    key = re.search(r'data-key="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{storefront}/v1/search", params={"q": "sofa"}, headers=headers).status_code == 200
    assert httpx.get(f"{storefront}/admin/keys", headers=headers).status_code == 403
    explain = httpx.get(f"{storefront}/v1/search", params={"q": "sofa", "explain": "true"}, headers=headers)
    assert explain.status_code == 403
    assert msgspec.json.decode(explain.content)["status"] == 403


VISITORS = 40
SHOPPER_QUERIES = (
    "running shoes",
    "sofa",
    "desk lamp",
    "wireless headphones",
    "yoga mat",
    "coffee maker",
    "backpack",
    "office chair",
)


def storefront_visitors(base: str, count: int) -> list[tuple[str, bool]]:
    """`count` new browsers (no cookies) each search once on the storefront; every other one clicks
    its first result. Returns (variant, clicked) per visitor, as each page named its variant."""
    import httpx

    seen = []
    for n in range(count):
        with httpx.Client(base_url=base, timeout=30) as browser:
            # Varied: the abuse guard refuses one client the same search more than 20 times a minute.
            answer = browser.get("/ui/search", params={"q": SHOPPER_QUERIES[n % len(SHOPPER_QUERIES)]})
            assert answer.status_code == 200, answer.text
            page = answer.text
            key = re.search(r'data-key="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            variant = re.search(rf'data-experiments="[^"]*{FUSION.name}=(\w+)', page).group(1)  # type: ignore[union-attr]
            clicked = n % 2 == 0
            if clicked:
                query_id = re.search(r'<ol class="grid"[^>]*data-query-id="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                session = re.search(r'data-session="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                product = re.search(r'<li class="card" data-product-id="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                event = {
                    "action_name": "click",
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                    "query_id": query_id,
                    "session_id": session,
                    "application": "storefront",
                    "event_attributes": {"object": {"object_id": product}, "position": {"ordinal": 0}},
                }
                sent = browser.post("/v1/events", json=[event], headers={"Authorization": f"Bearer {key}"})
                assert sent.status_code in (200, 202), sent.text
            seen.append((variant, clicked))
    return seen


def test_the_workbench_and_the_experiment_pages_behind_the_console_login(
    page, storefront, screenshots, axe_script, api_keys
) -> None:
    with temporary_key(api_keys, "console browser test", ("search", "debug")) as key:
        page.goto(f"{storefront}/ui/workbench?q=running+shoes&left=formula&right=keyword")
        assert urlsplit(page.url).path == "/ui/console/login"
        assert not accessibility(page, axe_script, screenshots, "login")
        page.locator("#key").fill(key)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/ui/workbench\?q=running\+shoes&left=formula&right=keyword$"))
        for name in ("formula", "keyword"):
            assert page.locator(f'section[data-side="{name}"] ol.compared li').count() == 20
        assert page.locator("[data-ndcg]").count() == 2  # a golden query: both sides scored
        page.locator('section[data-side="keyword"] ol.compared li details summary').first.click()
        assert page.locator('section[data-side="keyword"] ol.compared li dl.explain').first.is_visible()
        page.screenshot(path=screenshots / "workbench.png", full_page=True)
        assert not accessibility(page, axe_script, screenshots, "workbench")

        visitors = storefront_visitors(storefront, VISITORS)
        page.get_by_role("link", name="Experiments").click()
        page.wait_for_url(re.compile(r"/ui/experiments$"))
        page.get_by_role("link", name=FUSION.name).click()
        page.wait_for_url(re.compile(rf"/ui/experiments/{FUSION.name}$"))
        # Every visitor's session is one unit, in the variant its search named (the sessions of this
        # module's other browser tests, which searched too, are counted as well).
        exposed = Counter(variant for variant, _ in visitors)
        deadline = time.monotonic() + 30
        while True:  # the API writes query records in batches, off the request path
            units = {
                variant: int(page.locator(f'tr[data-variant="{variant}"] td[data-units]').inner_text())
                for variant in ("control", "rrf")
            }
            # Other tests' sessions count too: a total that reaches VISITORS may still lack a visitor.
            if all(units[v] >= exposed[v] for v in units) or time.monotonic() > deadline:
                break
            time.sleep(1)
            page.reload()
        assert all(units[v] >= exposed[v] for v in units), (units, exposed)
        assert sum(units.values()) <= VISITORS + 5, (units, exposed)
        assert page.locator('[data-readable="false"]').count() == 1  # far below the horizon
        page.screenshot(path=screenshots / "experiment.png", full_page=True)
        assert not accessibility(page, axe_script, screenshots, "experiment")
