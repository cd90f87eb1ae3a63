"""GET /v1/recommendations: personal (ALS, popularity, session) and similar-item recommendations."""
