"""Redis keys that hold a shopper's data, defined once: the API writes and reads them, the feature
pipeline writes them, and erasing a user (quarry/user_data.py) must find every one of them."""

from __future__ import annotations

SESSION_KEEP = 20
"""A session's most recent products kept for its search boost."""
SESSION_TTL_S = 2 * 3600
ANONYMOUS = "anon"


def user_affinity_key(user: str) -> str:
    """A user's category affinity (pipelines/features.py), by pseudonym."""
    return f"feature:user:{user}:category_affinity"


def session_key(session_id: str) -> str:
    """The products a session engaged with, newest first."""
    return f"session:{session_id}:recent"


def search_page_key(identity: str, user: str | None, session_id: str | None) -> str:
    """A cached search page: `identity` hashes what decides the page; a page personalized for a
    user or a session names its owner last, so an erasure finds it by pattern."""
    owner = user or ANONYMOUS
    if session_id is not None:
        owner += f":s:{session_id}"
    return f"search:{identity}:{owner}"


def search_page_patterns(user: str | None, sessions: list[str]) -> list[str]:
    """Glob patterns of every cached page of this user or of these sessions."""
    patterns = [f"search:*:{user}", f"search:*:{user}:s:*"] if user else []
    return patterns + [f"search:*:s:{session}" for session in sessions]


def popular_key(department: str, k: int) -> str:
    """The top-k product ids of a top-level category ("all": every one), by popularity
    (pipelines/features.py writes them; the recommendations read them). No shopper's data."""
    return f"popular:{department}:{k}"
