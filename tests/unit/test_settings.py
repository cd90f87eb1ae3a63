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


def test_a_secret_comes_from_its_file_and_never_shows(tmp_path) -> None:
    import subprocess
    import sys

    from quarry.settings import PROJECT_ROOT

    secret_file = tmp_path / "user-token.secret"
    secret_file.write_text("s3cr3t-value-7f1e\n")
    settings = load_settings({"QUARRY_USER_TOKEN_SECRET_FILE": str(secret_file)})
    assert settings.user_token_secret == "s3cr3t-value-7f1e"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)
    env = {"PATH": "/usr/bin:/bin", "QUARRY_USER_TOKEN_SECRET": "s3cr3t-value-7f1e"}
    for arguments in (["--shell"], []):  # the export lines, and the JSON dump
        shown = subprocess.run(
            [sys.executable, "-m", "quarry.settings", *arguments],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "QUARRY_LOG_LEVEL" in shown or '"log_level"' in shown
        assert "s3cr3t" not in shown and "user_token_secret" not in shown.lower()


def test_a_secret_and_its_file_together_or_an_unreadable_file_are_errors(tmp_path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("x")
    with pytest.raises(SettingsError, match="not both"):
        load_settings({"QUARRY_USER_TOKEN_SECRET": "y", "QUARRY_USER_TOKEN_SECRET_FILE": str(secret_file)})
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({"QUARRY_USER_TOKEN_SECRET_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):  # a failed mount must not switch a secret off
        load_settings({"QUARRY_REDIS_PASSWORD_FILE": str(tmp_path / "empty")})
    with pytest.raises(SettingsError, match="unknown"):  # only secrets have a _FILE form
        load_settings({"QUARRY_LOG_LEVEL_FILE": str(secret_file)})
