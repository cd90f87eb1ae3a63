"""How far a shadow model's answer is from the champion's, for the same request: what the promotion
gate's shadow stage judges (docs/model-lifecycle.md).

- overlap@10: the share of the champion's top 10 the shadow also returns in its top 10;
- rank correlation: Kendall's tau-b of the two rankings over the items both return (None with fewer
  than two in common: nothing to order);
- score drift: the mean absolute difference of the two scores of the items both return.
"""

from __future__ import annotations

import msgspec
from scipy.stats import kendalltau

TOP = 10


class ShadowComparison(msgspec.Struct, frozen=True):
    overlap_at_10: float
    rank_correlation: float | None
    score_drift: float | None
    common: int


def compare(champion: list[tuple[str, float]], shadow: list[tuple[str, float]]) -> ShadowComparison:
    """Both rankings best first, as (item, score)."""
    top_champion = [item for item, _ in champion[:TOP]]
    top_shadow = {item for item, _ in shadow[:TOP]}
    overlap = len([i for i in top_champion if i in top_shadow]) / max(1, len(top_champion))
    shadow_rank = {item: n for n, (item, _) in enumerate(shadow)}
    shadow_score = dict(shadow)
    common = [
        (n, shadow_rank[item], score, shadow_score[item])
        for n, (item, score) in enumerate(champion)
        if item in shadow_rank
    ]
    correlation: float | None = None
    if len(common) >= 2:
        tau = kendalltau([c[0] for c in common], [c[1] for c in common]).statistic
        correlation = None if tau != tau else round(float(tau), 6)  # NaN: all ranks tied
    drift = round(sum(abs(c[2] - c[3]) for c in common) / len(common), 6) if common else None
    return ShadowComparison(round(overlap, 6), correlation, drift, len(common))
