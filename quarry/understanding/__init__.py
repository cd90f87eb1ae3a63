"""Query understanding: normalize -> spell-correct -> classify and extract entities, each a small step."""
