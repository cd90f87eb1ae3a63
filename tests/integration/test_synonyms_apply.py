from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from pipelines.indexing.versions import build_from_documents, live_synonyms
from pipelines.synonyms.apply import apply, keyword_query
from pipelines.synonyms.rules import load_rules, opensearch_rules
from tests.conftest import make_product

REPO_SYNONYMS = Path(__file__).resolve().parents[2] / "synonyms"


def catalog():
    products = [
        make_product("S1", "Velvet three-seat sofa", description="A deep velvet sofa in emerald green."),
        make_product("T1", "Oak dining table", category_path=["Home & Kitchen", "Furniture", "Tables"]),
        make_product("L1", "Brass floor lamp", category_path=["Home & Kitchen", "Lighting"]),
    ]
    return ((p.product_id, p.to_document()) for p in products)


def ids_for(engine, alias: str, text: str) -> list[str]:
    return [h.id for h in engine.search(alias, keyword_query(text)).hits]


def test_new_rule_goes_live_and_preview_shows_the_change(engine, settings, alias, tmp_path) -> None:
    folder = tmp_path / "synonyms"
    shutil.copytree(REPO_SYNONYMS, folder)
    local = msgspec.structs.replace(settings, synonyms_dir=str(folder))
    rules, _ = load_rules(folder)
    build_from_documents(engine, local, alias, catalog(), opensearch_rules(rules))
    assert ids_for(engine, alias, "divan") == []

    with (folder / "products.txt").open("a") as handle:
        handle.write("divan, sofa\n")
    report = apply(local, engine, alias)

    assert ids_for(engine, alias, "divan") == ["S1"]
    assert ids_for(engine, alias, "divans") == ["S1"]  # stemming applies to synonyms too
    assert "divan" in report.changed_terms
    divan = next(row for row in report.impact if row.query == "divan")
    assert (divan.hits_before, divan.hits_after, divan.entered_top_10) == (0, 1, ["S1"])
    live = engine.alias_targets(alias)[0]
    assert "divan, sofa" in live_synonyms(engine, live)
    assert report.build is not None and report.build.previous  # old version kept for rollback


def test_unchanged_files_apply_nothing_and_dry_run_keeps_alias(engine, settings, alias, tmp_path) -> None:
    folder = tmp_path / "synonyms"
    folder.mkdir()
    (folder / "a.txt").write_text("sofa, settee\n")
    local = msgspec.structs.replace(settings, synonyms_dir=str(folder))
    built = build_from_documents(engine, local, alias, catalog(), ["sofa, settee"])
    assert apply(local, engine, alias).build is None

    (folder / "a.txt").write_text("sofa, settee\ncouch, sofa\n")
    report = apply(local, engine, alias, dry_run=True)
    assert report.impact and engine.alias_targets(alias) == [built.index]
    assert not engine.index_exists(report.build.index)
