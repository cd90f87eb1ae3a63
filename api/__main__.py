"""`python -m api`: the production server. Uvicorn with uvloop and httptools, `QUARRY_API_WORKERS`
processes, JSON logs on stdout like every other line the service writes."""

import uvicorn

from quarry.logs import configure_logging
from quarry.settings import get_settings

settings = get_settings()
configure_logging(settings.log_level, service="quarry-api")
uvicorn.run(
    "api.app:create_app",
    factory=True,
    host=settings.api_host,
    port=settings.api_port,
    workers=settings.api_workers,
    loop="uvloop",
    http="httptools",
    log_config=None,
    access_log=False,  # the search log line carries latency and status-relevant fields already
    proxy_headers=True,
)
