"""`python -m api`: the production server. Uvicorn with uvloop and httptools, `QUARRY_API_WORKERS`
processes, JSON logs on stdout like every other line the service writes.

Metrics: every worker writes its counters to files under var/prometheus (prometheus-client's
multiprocess mode), so `/metrics` answered by any worker reports all of them. The directory is
emptied at start: files of a previous run would add old counts to new ones.
"""

import os
import shutil

import uvicorn

from quarry.logs import configure_logging
from quarry.settings import get_settings

settings = get_settings()
configure_logging(settings.log_level, service="quarry-api")
if bool(settings.api_tls_cert_file) != bool(settings.api_tls_key_file):
    raise SystemExit("QUARRY_API_TLS_CERT_FILE and QUARRY_API_TLS_KEY_FILE go together")
metrics_dir = settings.var_path / "prometheus" / str(settings.api_port)
shutil.rmtree(metrics_dir, ignore_errors=True)
metrics_dir.mkdir(parents=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
try:
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
        # X-Forwarded-For and -Proto count only from these proxies (rate limits key on the address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # HTTPS when given a certificate (HSTS is sent then: api/security/headers.py).
        ssl_certfile=settings.api_tls_cert_file or None,
        ssl_keyfile=settings.api_tls_key_file or None,
    )
finally:
    shutil.rmtree(metrics_dir, ignore_errors=True)
