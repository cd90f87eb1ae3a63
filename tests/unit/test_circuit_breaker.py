from prometheus_client import REGISTRY

from quarry.circuit import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("cache", threshold=5, cooldown_s=30, clock=clock)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.record_failure()
    assert not breaker.allow() and breaker.state == "open"
    clock.now = 29.9
    assert not breaker.allow()
    clock.now = 30.0
    assert breaker.state == "half_open" and breaker.is_open is False
    assert breaker.allow()  # the trial call ...
    assert not breaker.allow() and breaker.is_open  # ... is the only one until its outcome
    breaker.record_failure()  # the trial call failed: open again for a full cooldown
    assert not breaker.allow()
    clock.now = 60.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("cache", threshold=3, cooldown_s=30, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow()


def test_local_pages_expire_and_evict_least_recently_used(monkeypatch) -> None:
    from quarry.search import cache as cache_module
    from quarry.search.cache import LocalPages

    now = [100.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    pages = LocalPages(capacity=2, ttl_s=5)
    pages.put("a", "A")  # type: ignore[arg-type]
    pages.put("b", "B")  # type: ignore[arg-type]
    assert pages.get("a") == "A"  # a is now the most recently used
    pages.put("c", "C")  # type: ignore[arg-type]
    assert pages.get("b") is None and pages.get("a") == "A" and pages.get("c") == "C"
    now[0] = 105.1
    assert pages.get("a") is None


def test_a_breaker_is_published_closed_from_creation() -> None:
    """Dashboards chart every breaker from the start, not from its first opening."""
    name = "created-closed-test"
    breaker = CircuitBreaker(name, threshold=1)
    assert REGISTRY.get_sample_value("quarry_circuit_open", {"breaker": name}) == 0
    breaker.record_failure()
    assert REGISTRY.get_sample_value("quarry_circuit_open", {"breaker": name}) == 1
