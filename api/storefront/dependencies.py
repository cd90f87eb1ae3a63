from __future__ import annotations

import logging
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from quarry.api_keys import ApiKeys, KeyStoreError
from quarry.settings import Settings

log = logging.getLogger("quarry.storefront")
HERE = Path(__file__).parent
CONSOLE = HERE.parent / "console"
KEY_FILE = "storefront.token"


PUBLIC_SCOPES = frozenset({"search", "recommend", "events"})
"""All a key embedded in every page may hold: anyone can copy it from the page."""


def storefront_key(settings: Settings, keys: ApiKeys) -> str | None:
    """QUARRY_STOREFRONT_KEY, else the key `make up` wrote, once checked: a key that is unknown or
    revoked, or holds more than the public scopes (debug, admin, server), is never put in a page.
    None: the pages answer 503 saying so (and the reason is logged)."""
    token = settings.storefront_key
    if not token:
        try:
            token = (settings.var_path / "keys" / KEY_FILE).read_text().strip()
        except OSError:
            return None
    try:
        key = keys.verify(token)
    except KeyStoreError:  # the store is down at start-up: the gate checks the key on every page
        log.warning("the storefront key could not be checked at start-up")
        return token
    if key is None:
        log.error("the storefront key is unknown, revoked or expired; the storefront answers 503")
        return None
    extra = sorted(set(key.scopes) - PUBLIC_SCOPES)
    if extra:
        log.error(
            "the storefront key holds more than the public scopes; it is not embedded in pages",
            extra={"key_id": key.key_id, "scopes": extra},
        )
        return None
    return token


def templates() -> TemplateConfig[JinjaTemplateEngine]:
    """The storefront's and the console's pages. Autoescaped: titles and queries are shoppers' and
    merchants' text."""
    environment = Environment(
        loader=FileSystemLoader([HERE / "templates", CONSOLE / "templates"]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_files() -> ControllerRouterHandler:
    return create_static_files_router(
        path="/ui/static",
        directories=[HERE / "static", CONSOLE / "static"],
        opt={"public": True},
        include_in_schema=False,
    )
