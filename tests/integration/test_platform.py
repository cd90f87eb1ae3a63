import pytest

from quarry.platform import LTR_PLUGINS, check, ensure_ltr_feature_store, has_ltr


def test_knn_plugin_installed_and_lucene_knn_answers(engine) -> None:
    report = check(engine, require_ltr=False)
    assert "opensearch-knn" in report.plugins
    assert report.knn_query_ok
    assert report.cluster_status in {"green", "yellow"}


def test_missing_ltr_is_a_problem_when_required(engine) -> None:
    report = check(engine, require_ltr=True)
    assert report.ltr_plugin == has_ltr(engine.plugins())
    assert bool(report.problems) == (not report.ltr_plugin)


def test_ltr_feature_store_can_be_created(engine) -> None:
    if not has_ltr(engine.plugins()):
        pytest.skip(
            f"none of {LTR_PLUGINS} installed: Maven Central serves no LTR zip for this version "
            "(docs/platform.md#learning-to-rank-plugin); set QUARRY_LTR_PLUGIN to enable"
        )
    ensure_ltr_feature_store(engine)
    ensure_ltr_feature_store(engine)  # idempotent
    assert engine.request("GET", "/_ltr")
