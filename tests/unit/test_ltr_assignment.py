"""Which ranker a search gets (quarry/ltr/serving.py): the champion, or the formula without one; a
live canary for its sticky share of shoppers, and a record for every search it could have ranked;
the shadow only for searches the champion ranked, and never the version that serves."""

from __future__ import annotations

import random

import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.canary import CanaryTraffic
from quarry.ltr.features import FeatureExtractor
from quarry.ltr.featureset import load_featureset
from quarry.ltr.ranker import ARTIFACT, LtrRanker, TrainingSet
from quarry.ltr.serving import LtrRescorer
from quarry.settings import Settings
from quarry.shadow import ShadowRunner

FEATURESET = load_featureset(Settings().ltr_featureset)
SHOPPERS = [f"session-{n}" for n in range(2_000)]


def publish(store: LocalArtifactStore, seed: int) -> str:
    rng = random.Random(seed)
    names = FEATURESET.names
    rows = [[rng.random() for _ in names] for _ in range(40)]
    model = LtrRanker(rounds=5)
    model.fit(
        TrainingSet(
            names,
            ["q0", "q1"],
            [20, 20],
            rows,
            [rng.randint(0, 4) for _ in rows],
            [1.0, 1.0],
            [f"p{n}" for n in range(40)],
        )
    )
    return store.publish(
        ARTIFACT, model.save(), {**model.metadata(), "featureset": FEATURESET.name}, activate=False
    )


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path)


def rescorer(store: LocalArtifactStore, shadow_share: float = 0.0, canary_share: float = 0.0) -> LtrRescorer:
    return LtrRescorer(
        store,
        FeatureExtractor(None, "products", FEATURESET),  # type: ignore[arg-type]  # no search here
        reload_interval_s=0.0,
        shadow=ShadowRunner(None, shadow_share),
        canary=CanaryTraffic(None, canary_share),
    )


def test_without_a_champion_the_formula_serves_and_with_one_the_champion(store) -> None:
    assert rescorer(store).assign("session-1").model is None
    champion = publish(store, 1)
    store.set_alias(ARTIFACT, "champion", champion, reason="test")
    served = rescorer(store).assign("session-1")
    assert (served.alias, served.version, served.canary_version) == ("champion", champion, None)
    assert served.model is not None


def test_a_canary_serves_its_share_of_shoppers_stickily_and_the_rest_are_recorded_as_champion(store) -> None:
    champion, candidate = publish(store, 1), publish(store, 2)
    store.set_alias(ARTIFACT, "champion", champion, reason="test")
    store.set_alias(ARTIFACT, "canary", candidate, reason="test")
    ltr = rescorer(store, canary_share=0.3)
    first = {s: ltr.assign(s) for s in SHOPPERS}
    on_canary = [s for s, a in first.items() if a.alias == "canary"]
    assert 0.25 < len(on_canary) / len(SHOPPERS) < 0.35
    assert all(first[s].version == candidate for s in on_canary)
    assert all(a.version == champion for a in first.values() if a.alias == "champion")
    assert all(a.canary_version == candidate for a in first.values())  # every search is recorded
    assert all(ltr.assign(s).alias == first[s].alias for s in SHOPPERS[:200])  # sticky
    assert ltr.assign(None).alias == "champion"  # nobody to keep it sticky for
    assert rescorer(store, canary_share=0.0).assign(on_canary[0]).canary_version is None  # canaries off


def test_a_canary_against_the_formula_and_a_canary_that_is_the_champion(store) -> None:
    candidate = publish(store, 2)
    store.set_alias(ARTIFACT, "canary", candidate, reason="test")
    served = {rescorer(store, canary_share=0.5).assign(s).version for s in SHOPPERS[:100]}
    assert served == {candidate, None}  # the formula is the champion variant
    store.set_alias(ARTIFACT, "champion", candidate, reason="test")
    assert rescorer(store, canary_share=0.5).assign(SHOPPERS[0]).canary_version is None


def test_the_shadow_runs_only_beside_the_champion_and_never_as_itself(store) -> None:
    champion, candidate = publish(store, 1), publish(store, 2)
    store.set_alias(ARTIFACT, "champion", champion, reason="test")
    store.set_alias(ARTIFACT, "shadow", candidate, reason="test")
    ltr = rescorer(store, shadow_share=1.0)
    shadow = ltr.shadow_for(ltr.assign("session-1"))
    assert shadow is not None and shadow[0] == candidate
    assert rescorer(store, shadow_share=0.0).shadow_for(ltr.assign("session-1")) is None
    store.set_alias(ARTIFACT, "canary", candidate, reason="test")
    both = rescorer(store, shadow_share=1.0, canary_share=1.0)
    assert both.shadow_for(both.assign("session-1")) is None  # a canary request is not the champion's
    store.set_alias(ARTIFACT, "champion", candidate, reason="test")
    again = rescorer(store, shadow_share=1.0)
    assert again.shadow_for(again.assign("session-1")) is None  # the shadow is what serves
