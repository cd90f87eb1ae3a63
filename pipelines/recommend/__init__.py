"""Recommendation models (popularity, implicit ALS), their training and offline evaluation."""
