"""Secrets a deployment sets once and every process shares (QUARRY_USER_TOKEN_SECRET,
QUARRY_PSEUDONYM_KEY): taken from the setting when given, otherwise made once in the var folder, which
is right on one host (`make up`, tests) and wrong for several API instances, which must share one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_SECRET_BYTES = 32


class HostSecretError(RuntimeError):
    """The secret is too short, or missing where it may not be made."""


def host_secret(configured: str, setting: str, path: Path, create: bool = True) -> bytes:
    """`setting`: the variable's name, for the errors. A secret is made without a window in which
    another process could read half of it, and the first process to make one wins."""
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise HostSecretError(f"{setting} holds at least {MIN_SECRET_BYTES} bytes")
        return configured.encode()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise HostSecretError(
                f"no {setting}: set it as the API has it, or run this where the API runs "
                f"({path} is made there at start-up)"
            ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    try:
        os.link(staged, path)  # fails if another process made one first: theirs is kept
    except FileExistsError:
        pass
    finally:
        staged.unlink()
    return path.read_bytes().strip()
