from api.suggest.services import SuggestIndex
from quarry.vocabulary import Suggestion

ENTRIES = [
    Suggestion("Samsung", "brand", 20.0),
    Suggestion("samsung tv", "query", 15.0),
    Suggestion("Apple iPhone 15 Pro - black", "title", 3.0),
    Suggestion("Apple iPhone 15 Pro - blue", "title", 2.9),
    Suggestion("Adidas Samba OG sneakers", "title", 2.0),
    Suggestion("Sofas", "category", 11.0),
]


def test_prefix_of_any_word_matches_in_weight_order() -> None:
    index = SuggestIndex(ENTRIES)
    assert [s.text for s in index.lookup("sam")] == ["Samsung", "samsung tv", "Adidas Samba OG sneakers"]
    assert [s.text for s in index.lookup("iph")] == ["Apple iPhone 15 Pro - black"]  # variants collapse


def test_limits_and_misses() -> None:
    index = SuggestIndex(ENTRIES)
    assert index.lookup("s", limit=2) == ENTRIES[:2]
    assert index.lookup("zzz") == []
