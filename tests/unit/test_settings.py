from pathlib import Path

import pytest

from quarry.settings import ENV_PREFIX, Settings, SettingsError, field_docs, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_reads_prefixed_environment_with_types() -> None:
    settings = load_settings({"QUARRY_API_PORT": "9001", "QUARRY_REQUIRE_LTR": "true", "HOME": "/x"})
    assert settings.api_port == 9001
    assert settings.require_ltr is True
    assert settings.opensearch_url == "http://127.0.0.1:9200"


def test_unknown_quarry_variable_is_an_error_not_ignored() -> None:
    with pytest.raises(SettingsError, match="QUARRY_OPENSEARCH_ULR"):
        load_settings({"QUARRY_OPENSEARCH_ULR": "http://typo"})


def test_wrong_type_is_reported() -> None:
    with pytest.raises(SettingsError, match="api_port"):
        load_settings({"QUARRY_API_PORT": "eighty"})


def test_every_setting_has_a_one_line_docstring() -> None:
    docs = field_docs()
    for name in Settings.__struct_fields__:
        assert docs.get(name), f"setting {name} has no docstring"
        assert "\n" not in docs[name], f"setting {name}: docstring must be one line"


def test_every_setting_is_in_the_readme_table() -> None:
    readme = README.read_text()
    missing = [n for n in Settings.__struct_fields__ if f"`{ENV_PREFIX}{n.upper()}`" not in readme]
    assert not missing, f"README settings table lacks {missing}; run make settings-table"


def test_ubi_logs_stay_on_the_search_cluster_unless_told_otherwise() -> None:
    default = load_settings({"QUARRY_OPENSEARCH_URL": "http://search:9200"})
    separate = load_settings(
        {"QUARRY_OPENSEARCH_URL": "http://search:9200", "QUARRY_UBI_OPENSEARCH_URL": "http://analytics:9200"}
    )
    assert default.ubi_url == "http://search:9200"
    assert separate.ubi_url == "http://analytics:9200"
