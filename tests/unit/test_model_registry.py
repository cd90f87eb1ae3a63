"""The registry's aliases, log, rollback and gate over a real file store and the in-memory mirror
(the MLflow mirror passes the same contract: tests/integration/test_registry_mirror_contract.py)."""

from __future__ import annotations

import pytest

from pipelines.registry import gate
from pipelines.registry.mirror import MemoryMirror
from pipelines.registry.registry import ModelRegistry, RegistryError
from quarry.adapters.artifact_store import LocalArtifactStore


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(LocalArtifactStore(tmp_path), MemoryMirror())


def publish(registry: ModelRegistry, ndcg: float | None = None) -> str:
    metrics = {} if ndcg is None else {"heldout_ndcg_at_10": ndcg}
    version = registry.store.publish("als", {"f.bin": b"x"}, {"metrics": metrics}, activate=False)
    registry.register("als", version)
    return version


def test_a_registered_version_is_a_candidate_and_serves_nothing(registry) -> None:
    first = publish(registry)
    assert registry.aliases("als") == {"candidate": first}
    assert registry.store.current("als") is None  # nothing is served before a champion exists


def test_metrics_measured_after_publishing_reach_the_record_and_the_mirror(registry) -> None:
    """A golden gate scores a version it had to publish first; its scores join what the pipeline
    recorded, in the store and in the mirror, which records a version once, when registered."""
    version = registry.store.publish(
        "vocabulary", {"f.bin": b"x"}, {"metrics": {"terms": 120}, "code_commit": "abc"}, activate=False
    )
    registry.register("vocabulary", version, measured={"golden_ndcg_at_10": 0.61})

    expected = {"terms": 120, "golden_ndcg_at_10": 0.61}
    assert registry.show("vocabulary", version)["metrics"] == expected
    assert registry.show("vocabulary", version)["code_commit"] == "abc"
    assert isinstance(registry.mirror, MemoryMirror)
    assert registry.mirror.versions["vocabulary"][version]["metrics"] == expected
    assert registry.aliases("vocabulary") == {"candidate": version}


def test_the_champion_is_what_the_store_serves_and_mirror_agrees(registry) -> None:
    first = publish(registry)
    registry.set_alias("als", "champion", first, reason="first")
    assert registry.store.current("als") == first
    assert registry.aliases("als") == {"candidate": first, "champion": first}
    assert registry.mirror is not None and registry.mirror.aliases("als") == registry.aliases("als")


def test_rollback_returns_to_the_champion_before_and_goes_further_when_repeated(registry) -> None:
    versions = [publish(registry) for _ in range(3)]
    for version in versions:
        registry.set_alias("als", "champion", version, reason="promoted")
    change = registry.rollback("als", "bad CTR")
    assert (change.version, change.previous) == (versions[1], versions[2])
    assert change.reason == "rollback: bad CTR" and registry.store.current("als") == versions[1]
    registry.rollback("als", "still bad")
    assert registry.store.current("als") == versions[0]
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback("als", "nothing left")


def test_unknown_aliases_and_versions_are_refused(registry) -> None:
    version = publish(registry)
    with pytest.raises(RegistryError, match="unknown alias"):
        registry.set_alias("als", "production", version, reason="")
    with pytest.raises(RegistryError, match="no version"):
        registry.set_alias("als", "shadow", "20990101T000000000000Z-abcdef", reason="")


def test_the_alias_log_records_every_change_with_its_reason(registry) -> None:
    version = publish(registry)
    registry.set_alias("als", "shadow", version, reason="offline gate passed")
    registry.set_alias("als", "shadow", None, reason="done")
    log = registry.store.alias_log("als")
    assert [(c.alias, c.version, c.reason) for c in log] == [
        ("candidate", version, "registered by its pipeline"),
        ("shadow", version, "offline gate passed"),
        ("shadow", None, "done"),
    ]
    assert "shadow" not in registry.aliases("als")


def test_the_offline_gate_compares_held_out_ndcg_with_the_champions(registry) -> None:
    champion = publish(registry, ndcg=0.070)
    assert gate.decide(registry, "als", champion, "champion").passed  # no champion yet
    registry.set_alias("als", "champion", champion, reason="first")
    within_noise = publish(registry, ndcg=0.062)
    worse = publish(registry, ndcg=0.020)
    unmeasured = publish(registry)
    assert gate.decide(registry, "als", within_noise, "shadow").passed
    refused = gate.decide(registry, "als", worse, "champion")
    assert not refused.passed and "0.0200 < champion's 0.0700" in refused.reasons[0]
    assert not gate.decide(registry, "als", unmeasured, "shadow").passed


def test_canary_and_its_promotion_need_live_evidence(registry) -> None:
    version = publish(registry, ndcg=0.1)
    assert gate.decide(registry, "als", version, "canary").stage == "shadow"
    registry.set_alias("als", "canary", version, reason="forced in a test")
    decision = gate.decide(registry, "als", version, "champion")
    assert not decision.passed and decision.stage == "canary"


def test_a_champion_comes_from_the_canary_only_once_there_is_one(registry) -> None:
    first = publish(registry, ndcg=0.07)
    registry.set_alias("als", "champion", first, reason="first")
    better = publish(registry, ndcg=0.09)
    refused = gate.decide(registry, "als", better, "champion")
    assert not refused.passed and refused.stage == "canary" and "is not the canary" in refused.reasons[0]
    assert gate.decide(registry, "als", better, "shadow").passed
    assert gate.decide(registry, "als", first, "champion").passed  # re-pointing the champion at itself


def test_a_shadow_without_evidence_is_waiting_not_refused(registry) -> None:
    version = publish(registry, ndcg=0.1)
    decision = gate.decide(registry, "als", version, "canary")
    assert not decision.passed and decision.waiting


def test_the_offline_gate_prefers_the_champion_scored_on_the_candidates_split(registry) -> None:
    """Each version's own held-out NDCG comes from its own window; a champion with a lucky window
    would block every successor. When the candidate records itself and the champion, both as served,
    on its split, those are the numbers compared."""
    champion = publish(registry, ndcg=0.0452)
    registry.set_alias("als", "champion", champion, reason="first")
    metrics = {
        "heldout_ndcg_at_10": 0.0230,
        "heldout_served_ndcg_at_10": 0.0310,
        "champion_heldout_served_ndcg_at_10": 0.0290,
    }
    same_split = registry.store.publish(
        "als", {"f.bin": b"x"}, {"metrics": metrics, "compared_with": champion}, activate=False
    )
    passed = gate.decide(registry, "als", same_split, "shadow")
    assert passed.passed and "0.0310 >= champion's 0.0290" in passed.reasons[0]
    assert "both as served, on the candidate's held-out split" in passed.reasons[0]
    # Scored against another version than the champion now: the old comparison, each on its window.
    stale = registry.store.publish(
        "als", {"f.bin": b"x"}, {"metrics": metrics, "compared_with": "someone-else"}, activate=False
    )
    refused = gate.decide(registry, "als", stale, "shadow")
    assert not refused.passed and "0.0230 < champion's 0.0452" in refused.reasons[0]


def test_a_learned_ranker_must_beat_the_formula_on_the_same_examples_even_as_the_first_version(
    registry,
) -> None:
    def ltr(model: float, formula: float) -> str:
        version = registry.store.publish(
            "ltr",
            {"model.ubj": b"x"},
            {"metrics": {"cv_golden_ndcg_at_10": model, "cv_formula_golden_ndcg_at_10": formula}},
            activate=False,
        )
        registry.register("ltr", version)
        return version

    worse = ltr(0.80, 0.82)
    refused = gate.decide(registry, "ltr", worse, "champion")
    assert not refused.passed and "does not beat" in refused.reasons[0]
    better = ltr(0.85, 0.82)
    assert gate.decide(registry, "ltr", better, "champion").passed  # the first version: the baseline
