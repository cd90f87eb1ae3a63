import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from quarry.text import normalize, tokens


@given(st.text(max_size=300))
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=300))
def test_normalized_text_is_clean(text: str) -> None:
    out = normalize(text)
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in out)
    assert out == out.casefold() or normalize(out.casefold()) == out


@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=20))
def test_a_word_in_punctuation_is_the_word_folded(word: str) -> None:
    folded = normalize(word)
    assert normalize(f"  ¡¿{word}!!  ") == folded
    assert " ".join(tokens(folded)) == folded  # letters and digits only: nothing but tokens remains


def test_examples() -> None:
    assert normalize("  Runnig   SHOES!!! ") == "runnig shoes"
    assert normalize("Levi's T-Shirt") == "levi's t-shirt"
    assert normalize("ＦＵＬＬ\u200bwidth\x00") == "fullwidth"
    assert normalize("under $50 -- deals...") == "under 50 deals"
    assert tokens(normalize("h&m dress 7.5")) == ["h&m", "dress", "7.5"]
