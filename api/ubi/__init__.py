"""User Behavior Insights logging: every search becomes a `ubi_queries` document."""
