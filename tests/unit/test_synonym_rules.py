from pathlib import Path

from pipelines.synonyms.rules import load_rules, opensearch_rules, unmatched_term_warnings

HEADER = "# comment line\n\n"


def write(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(HEADER + body, encoding="utf-8")


def issues_of(folder: Path) -> list[str]:
    return [str(i).replace(f"{folder.name}/", "") for i in load_rules(folder)[1]]


def test_valid_rules_are_normalized(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Sofa ,  Settee\nTV => television\nt  shirt, tee\n")
    rules, issues = load_rules(tmp_path)
    assert issues == []
    assert opensearch_rules(rules) == ["sofa, settee", "tv => television", "t shirt, tee"]
    assert [r.line for r in rules] == [3, 4, 5]


def test_syntax_and_logic_errors_name_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.txt",
        "\n".join(
            [
                "a => b => c",  # line 3
                "=> phone",  # 4
                "laptop =>",  # 5
                "red,,crimson",  # 6
                "blue, navy,",  # 7
                "shoe, shoe",  # 8
                "cap => cap, hat",  # 9
                "lonely",  # 10
                "mug, cup # drinks",  # 11
            ]
        )
        + "\n",
    )
    assert issues_of(tmp_path) == [
        "a.txt:3: error: more than one '=>' in a rule",
        "a.txt:4: error: nothing on the left of '=>'",
        "a.txt:5: error: nothing on the right of '=>'",
        "a.txt:6: error: empty term (two commas in a row, or a trailing comma)",
        "a.txt:7: error: empty term (two commas in a row, or a trailing comma)",
        "a.txt:8: error: term mapped to itself: shoe",
        "a.txt:9: error: term mapped to itself: cap",
        "a.txt:10: error: an equivalence needs at least two terms",
        "a.txt:11: error: '#' starts a comment only at the start of a line",
    ]


def test_duplicates_are_found_across_files_and_orderings(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "sofa, settee\nfridge => refrigerator\n")
    write(tmp_path, "b.txt", "Settee, sofa\nfridge => refrigerator\nfridge => icebox\n")
    issues = load_rules(tmp_path)[1]
    assert [(Path(i.file).name, i.line, i.message.split(" at ")[0]) for i in issues] == [
        ("b.txt", 3, "duplicate of the rule"),
        ("b.txt", 4, "duplicate of the rule"),
    ]
    assert [i.message.split(" at ")[1] for i in issues] == [
        f"{tmp_path.name}/a.txt:3",
        f"{tmp_path.name}/a.txt:4",
    ]


def test_rules_matching_nothing_in_the_catalog_are_warnings(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "sofa, couch\nhandbag, purse\n")
    rules, _ = load_rules(tmp_path)
    catalog_counts = {"sofa": 12, "couch": 0, "handbag": 0, "purse": 0}
    warnings = unmatched_term_warnings(rules, catalog_counts.__getitem__)
    assert [(w.line, w.severity, w.message) for w in warnings] == [
        (4, "warning", "matches nothing in the catalog: handbag, purse")
    ]


def test_what_each_term_means_for_entities(tmp_path: Path) -> None:
    from pipelines.understanding import synonym_meanings

    write(tmp_path, "a.txt", "Couch, Sofa, settee\nGrey => gray\n")
    meanings = synonym_meanings(load_rules(tmp_path)[0])
    assert meanings["couch"] == ["settee", "sofa"] and meanings["sofa"] == ["couch", "settee"]
    assert meanings["grey"] == ["gray"] and "gray" not in meanings  # a mapping reads one way
