from quarry.lru import Lru


def test_the_least_recently_used_entry_goes_first() -> None:
    memory: Lru[str, int] = Lru(2)
    memory.put("a", 1)
    memory.put("b", 2)
    assert memory.get("a") == 1  # "a" is now the most recent
    memory.put("c", 3)
    assert memory.get("b") is None and memory.get("a") == 1 and memory.get("c") == 3
    assert len(memory) == 2


def test_putting_again_refreshes_and_replaces() -> None:
    memory: Lru[str, int] = Lru(2)
    memory.put("a", 1)
    memory.put("b", 2)
    memory.put("a", 10)
    memory.put("c", 3)
    assert memory.get("a") == 10 and memory.get("b") is None


def test_no_capacity_remembers_nothing() -> None:
    memory: Lru[str, int] = Lru(0)
    memory.put("a", 1)
    assert memory.get("a") is None and len(memory) == 0


def test_a_peek_reads_without_making_the_entry_recent() -> None:
    memory: Lru[str, int] = Lru(2)
    memory.put("a", 1)
    memory.put("b", 2)
    assert memory.peek("a") == 1 and memory.peek("z") is None
    memory.put("c", 3)  # "a" was only peeked at: it is still the oldest
    assert memory.get("a") is None and memory.get("b") == 2
