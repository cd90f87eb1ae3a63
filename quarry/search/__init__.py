"""The search core: the stages a search runs through, shared by the API and offline code."""
