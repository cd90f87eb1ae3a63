"""Benchmarks (`make bench-*`). Each measures a baseline in the same run: the machine is shared and noisy."""
