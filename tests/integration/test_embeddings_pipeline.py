"""`make embeddings` on a small catalog: vectors in a new index version, the FAISS artifact, the
dimension following the model, and only changed products re-encoded."""

from __future__ import annotations

import msgspec

from pipelines.embeddings import embed_catalog
from pipelines.indexing.versions import build_from_documents
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.vector_index import ARTIFACT
from tests.conftest import make_product
from tests.fakes import HashingEncoder


def catalog(settings, engine, alias: str, sofa_title: str = "Velvet sofa") -> None:
    products = [
        make_product("S1", sofa_title),
        make_product("T1", "Oak dining table", category_path=["Home & Kitchen", "Furniture", "Tables"]),
        make_product("B1", "Insulated water bottle", category_path=["Sports", "Outdoor", "Drinkware"]),
    ]
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])


def test_a_768_dimension_model_gets_a_768_dimension_index_and_artifact(
    engine, settings, alias, tmp_path
) -> None:
    local = msgspec.structs.replace(settings, cache_dir=str(tmp_path / "cache"))
    store = LocalArtifactStore(tmp_path / "artifacts")
    catalog(local, engine, alias)
    encoder = HashingEncoder(768)
    run = embed_catalog(engine, local, store, encoder, alias)
    assert (run.products, run.encoded, run.dimension) == (3, 3, 768)
    index = engine.alias_targets(alias)[0]
    assert index == run.index
    mapping = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]["embedding"]
    assert mapping["dimension"] == 768
    metadata = store.metadata(ARTIFACT, store.current(ARTIFACT))
    assert (metadata["dimension"], metadata["rows"], metadata["model"]) == (768, 3, "hashing-test")
    assert metadata["source_index"] == index
    # The registry's record: what was encoded, from which catalog, by which code.
    assert metadata["input_snapshot"]["products_alias"] == alias and metadata["code_commit"]
    assert metadata["data_window"] == {"products": 3, "encoded": 3, "source_index": index}
    # The vectors are searchable with OpenSearch k-NN at that dimension.
    vector = encoder.encode(["Insulated water bottle | Acme"])[0].tolist()
    found = engine.search(alias, {"size": 1, "query": {"knn": {"embedding": {"vector": vector, "k": 1}}}})
    assert found.hits[0].id == "B1"


def test_only_new_or_changed_products_are_encoded_again(engine, settings, alias, tmp_path) -> None:
    local = msgspec.structs.replace(settings, cache_dir=str(tmp_path / "cache"))
    store = LocalArtifactStore(tmp_path / "artifacts")
    catalog(local, engine, alias)
    first = embed_catalog(engine, local, store, HashingEncoder(64), alias)
    again = embed_catalog(engine, local, store, HashingEncoder(64), alias)
    assert (first.encoded, again.encoded, again.reused) == (3, 0, 3)
    catalog(local, engine, alias, sofa_title="Green velvet sofa")  # one product's text changed
    changed = embed_catalog(engine, local, store, HashingEncoder(64), alias)
    assert (changed.encoded, changed.reused) == (1, 2)
    full = embed_catalog(engine, local, store, HashingEncoder(64), alias, full=True)
    assert full.encoded == 3
