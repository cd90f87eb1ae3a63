"""`python -m api`: serve the app with uvicorn, logging as JSON like every other Quarry process."""

import uvicorn

from quarry.logs import configure_logging
from quarry.settings import get_settings

settings = get_settings()
configure_logging(settings.log_level)
uvicorn.run(
    "api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port, log_config=None
)
