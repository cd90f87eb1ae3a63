import time
import uuid


def test_redis_runs_with_aof_everysec(store) -> None:
    info = store.persistence()
    assert info.aof_enabled is True
    assert info.appendfsync == "everysec"


def test_values_expire(store) -> None:
    key = f"test:{uuid.uuid4().hex}"
    store.set(key, b"v", ttl_s=1)
    assert store.get(key) == b"v"
    time.sleep(1.5)
    assert store.get(key) is None
