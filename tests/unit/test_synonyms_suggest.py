"""Mining synonym candidates, on hand-made logs and a hand-made embedding."""

from collections import Counter

import numpy as np

from pipelines.synonyms.rules import SynonymRule, parse_line
from pipelines.synonyms.suggest import Candidate, behaviour_pairs, meaning_pairs, new_pairs, review_file


def test_queries_one_word_apart_with_the_same_clicks_are_a_pair() -> None:
    engaged = {
        "grey couch": Counter({"P1": 3, "P2": 1}),
        "grey sofa": Counter({"P1": 2, "P2": 2}),
        "grey chair": Counter({"P9": 4}),  # one word apart too, but other products
        "couches": Counter({"P1": 1}),  # a plural: no synonym
        "couch": Counter({"P1": 1}),
    }
    searches = {"grey couch": 3, "grey sofa": 5, "grey chair": 4, "couches": 9, "couch": 9}
    pairs = behaviour_pairs(engaged, searches)
    assert [(c.first, c.second, c.score) for c in pairs] == [("couch", "sofa", 1.0)]


def test_rare_queries_are_no_evidence() -> None:
    engaged = {"couch": Counter({"P1": 1}), "sofa": Counter({"P1": 1})}
    assert behaviour_pairs(engaged, {"couch": 2, "sofa": 50}) == []


def test_a_shopper_word_near_a_title_word_is_a_pair() -> None:
    vectors = {"telly": [1.0, 0.1], "television": [0.9, 0.2], "sofa": [0.0, 1.0], "blendr": [0.1, 1.0]}

    def encode(words: list[str]) -> np.ndarray:
        return np.array([vectors[w] for w in words], dtype="float32")

    pairs = meaning_pairs(
        ["telly", "blendr"], ["television", "sofa"], encode, is_word=lambda w: w != "blendr"
    )
    assert [(c.first, c.second) for c in pairs] == [("television", "telly")]  # pairs in word order


def test_pairs_already_in_a_rule_are_left_out_and_the_file_is_synonym_format() -> None:
    rule = parse_line("synonyms/products.txt", 1, "couch, sofa")
    assert isinstance(rule, SynonymRule)
    candidates = [
        Candidate("couch", "sofa", "behaviour", 1.0, "x"),
        Candidate("divan", "sofa", "meaning", 0.8, "y"),
    ]
    kept = new_pairs(candidates, [rule])
    assert [(c.first, c.second) for c in kept] == [("divan", "sofa")]
    text = review_file(kept, {"divan": "hits 0 -> 553, top-10 overlap 0/10"})
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == ["divan, sofa"]
    assert parse_line("review", 1, rules[0]) is not None
    assert "#   preview 'divan': hits 0 -> 553" in text
