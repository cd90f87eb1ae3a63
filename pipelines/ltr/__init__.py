"""Learning to rank (docs/ltr.md): judgments from clicks, the feature set, training and export."""
