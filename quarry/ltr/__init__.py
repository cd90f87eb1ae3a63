"""Learning to rank, the parts every process shares: the feature set and the feature values
(docs/ltr.md). Logging, training and serving compute features with this code only."""
