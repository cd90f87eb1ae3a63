"""Liveness and readiness: what load balancers and `make up` ask before sending traffic."""
