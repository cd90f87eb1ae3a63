"""POST /v1/events: durable, idempotent UBI event ingestion."""
