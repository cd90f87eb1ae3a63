"""Catalog priors: what to recommend before anyone has done anything (cold start).

A fresh shop has no events, so neither popularity nor ALS can rank anything, and "popular" would be
empty. The catalog still says something about what shoppers will like: a product rated well by many
reviewers, recent, in stock. The prior of a product is

    prior = bayes(rating) / 5 * (3/4 + 1/4 * reviews) * (1/2 + 1/2 * freshness)

- `bayes(rating)`: the rating shrunk towards its category's mean by `prior_strength` pseudo-reviews,
  so that one 5-star review does not beat a thousand 4.7s (the IMDb-style Bayesian average);
- `reviews`: log(1 + review count) over the category's largest, a proxy for sales, with a quarter
  of the weight: a well-rated product beats a mediocre best-seller;
- `freshness`: exp(-age / half-life), halved in weight so that an old best-seller still ranks;
- out-of-stock products get no prior.

Computed offline from the catalog (pipelines/catalog_priors.py) and served as the last fallback of
the popular recommendations (`strategy: catalog_priors`). The model follows the recommenders'
interface: fit / score / save / load, and metadata with parameters and library versions.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec

from quarry.timestamps import freshness

ARTIFACT = "catalog-priors"
"""The artifact's name in the model store: pipelines publish it, the API serves it."""
ALL = "all"
"""The list over every department."""
FILE = "priors.json"


class CatalogItem(msgspec.Struct, frozen=True):
    product_id: str
    department: str
    rating: float | None = None
    review_count: int = 0
    in_stock: bool = True
    created_at: str | None = None


class PriorParameters(msgspec.Struct, frozen=True):
    prior_strength: float = 20.0
    """Pseudo-reviews at the category's mean rating added to every product's own."""
    freshness_half_life_days: float = 180.0
    top_k: int = 100
    """Products kept per department (and over all)."""


class CatalogPriors:
    name = "catalog_priors"

    def __init__(self, parameters: PriorParameters | None = None) -> None:
        self.parameters = parameters or PriorParameters()
        self.scores: dict[str, float] = {}
        self.ranked: dict[str, list[str]] = {}
        self.products = 0

    def fit(self, items: Iterable[CatalogItem], now: dt.datetime) -> None:
        catalog = list(items)
        self.products = len(catalog)
        by_department: dict[str, list[CatalogItem]] = defaultdict(list)
        for item in catalog:
            by_department[item.department or "unknown"].append(item)
        p = self.parameters
        scores: dict[str, float] = {}
        for items_here in by_department.values():
            rated = [
                (i.rating, i.review_count) for i in items_here if i.rating is not None and i.review_count > 0
            ]
            reviews = sum(n for _, n in rated)
            mean = sum(r * n for r, n in rated) / reviews if reviews else 3.0
            most = max((i.review_count for i in items_here), default=0)
            for item in items_here:
                if not item.in_stock:
                    continue
                n = item.review_count if item.rating is not None else 0
                bayes = (p.prior_strength * mean + n * (item.rating or 0.0)) / (p.prior_strength + n)
                volume = math.log1p(n) / math.log1p(most) if most > 0 else 0.0
                fresh = freshness(item.created_at, now, p.freshness_half_life_days)
                scores[item.product_id] = round(bayes / 5 * (0.75 + 0.25 * volume) * (0.5 + 0.5 * fresh), 6)
        self.scores = scores
        department_of = {i.product_id: i.department or "unknown" for i in catalog}
        lists: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for product, score in scores.items():
            lists[department_of[product]].append((score, product))
            lists[ALL].append((score, product))
        self.ranked = {
            department: [pid for _, pid in sorted(scored, key=lambda sp: (-sp[0], sp[1]))[: p.top_k]]
            for department, scored in lists.items()
        }

    def top(self, department: str | None, k: int) -> list[str]:
        return self.ranked.get(department or ALL, [])[:k]

    def score(self, items: list[str]) -> list[float]:
        return [self.scores.get(item, 0.0) for item in items]

    def save(self) -> dict[str, bytes]:
        """Only the ranked lists are served; scores of listed products go with them."""
        listed = {pid for ranked in self.ranked.values() for pid in ranked}
        return {
            FILE: msgspec.json.encode(
                {"ranked": self.ranked, "scores": {pid: self.scores[pid] for pid in sorted(listed)}}
            )
        }

    @classmethod
    def load(cls, files: dict[str, bytes], parameters: dict[str, Any] | None = None) -> CatalogPriors:
        model = cls(msgspec.convert(parameters or {}, PriorParameters))
        data = msgspec.json.decode(files[FILE], type=dict[str, dict[str, Any]])
        model.ranked = msgspec.convert(data["ranked"], dict[str, list[str]])
        model.scores = msgspec.convert(data["scores"], dict[str, float])
        return model

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "parameters": msgspec.to_builtins(self.parameters),
            "metrics": {
                "products": self.products,
                "scored": len(self.scores),
                "departments": sum(1 for d in self.ranked if d != ALL),
            },
            "libraries": {"msgspec": importlib.metadata.version("msgspec")},
        }
