from pathlib import Path

from pipelines.spelling_rules import load_spelling_rules


def test_merchandiser_files_are_read_with_errors_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "protected.txt").write_text("# brands\nKohler\nwestling\ntwo words\n", encoding="utf-8")
    (tmp_path / "corrections.txt").write_text(
        "blendr => blender\nsneekers=>sneakers\nno arrow\nsame => same\n"
        "blendr => blend\nwestling => wrestling\n",
        encoding="utf-8",
    )
    rules, issues = load_spelling_rules(tmp_path)
    assert rules.protected == ("kohler", "westling")
    assert rules.corrections == {"blendr": "blender", "sneekers": "sneakers"}
    assert [(i.file, i.line) for i in issues] == [
        (f"{tmp_path.name}/protected.txt", 4),
        (f"{tmp_path.name}/corrections.txt", 3),
        (f"{tmp_path.name}/corrections.txt", 4),
        (f"{tmp_path.name}/corrections.txt", 5),
        (f"{tmp_path.name}/corrections.txt", 6),
    ]


def test_the_shipped_files_are_valid() -> None:
    assert load_spelling_rules()[1] == []
