from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from quarry.settings import Settings

HERE = Path(__file__).parent
CONSOLE = HERE.parent / "console"
KEY_FILE = "storefront.token"


def storefront_key(settings: Settings) -> str | None:
    """QUARRY_STOREFRONT_KEY, else the key `make up` wrote; None: the pages answer 503 saying so."""
    if settings.storefront_key:
        return settings.storefront_key
    try:
        return (settings.var_path / "keys" / KEY_FILE).read_text().strip() or None
    except OSError:
        return None


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
