# Quarry's front panel. `make help` lists every target; `make up` and `make test` do all the set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON_BOOT) -m uv")
PY := $(CURDIR)/.venv/bin/python
# Downloads are cached outside the checkout so fresh clones and CI runs reuse them.
export UV_CACHE_DIR ?= $(HOME)/.cache/uv

.PHONY: help bootstrap provision services up down status airflow airflow-down mlflow models-watch screenshots ui-screenshots catalog-priors data-quality test lint typecheck unit integration \
        index import vocabulary embeddings simulate simulate-recommendations popularity train-als eval-recommend golden eval eval-mpnet understanding-report experiment-report experiment-validation semantic-floor semantic-floor-mpnet bench-search bench-understanding bench-ann bench-events bench-ubi-ids bench-ratelimit bench-ltr-features train-ltr eval-ltr ltr-replay ltr-export observe events-retention privacy-migrate events-replay events-fill-queries judgments-coec rollback-index synonyms-check synonyms-suggest synonyms-apply bench-index settings-table security-audit clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: ## Install uv if missing and the locked Python dependencies (.venv)
	@command -v uv >/dev/null 2>&1 || $(PYTHON_BOOT) -m uv --version >/dev/null 2>&1 || \
	  $(PYTHON_BOOT) -m pip install --quiet --user uv 2>/dev/null || \
	  $(PYTHON_BOOT) -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --locked --quiet

provision: bootstrap ## Install what is missing: Debian packages, OpenSearch + plugins, Redis
	@ops/ensure-system-packages
	@if [ -z "$${QUARRY_OPENSEARCH_URL:-}" ]; then opensearch/opensearchctl provision; fi

services: bootstrap ## Start OpenSearch and Redis (or check the external ones you configured)
	@ops/ensure-system-packages
	@opensearch/opensearchctl start
	@ops/redisctl start

# `make up TLS=1`: the API serves HTTPS with a certificate from a local CA (var/tls; trust ca.pem).
TLS_DIR = $(CURDIR)/var/tls
TLS_ENV = $(if $(filter 1,$(TLS)),QUARRY_API_TLS_CERT_FILE=$(TLS_DIR)/server.pem QUARRY_API_TLS_KEY_FILE=$(TLS_DIR)/server.key QUARRY_API_TLS_CA_FILE=$(TLS_DIR)/ca.pem)

up: services ## Start the whole stack with the demo catalog and print its URLs (TLS=1: HTTPS)
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines catalog-priors --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(if $(filter 1,$(TLS)),ops/tls-certs $(TLS_DIR))
	@$(PY) -m pipelines keys demo >/dev/null  # before the API starts: its storefront reads var/keys/storefront.token
	@$(TLS_ENV) ops/apictl start
	@$(if $(TLS_ENV),export $(TLS_ENV);) eval "$$($(PY) -m quarry.settings --shell)"; \
	  echo ""; echo "Quarry is up:"; \
	  $(PY) -m pipelines keys demo; \
	  echo "  API            $$($(PY) -c 'from quarry.settings import load_settings; print(load_settings().api_base_url)')  (health: /health/ready; OpenAPI: /schema/openapi.json, with a key)"; \
	  echo "  OpenSearch     $$QUARRY_OPENSEARCH_URL"; \
	  echo "  Redis          $$QUARRY_REDIS_URL"; \
	  echo "Stop it with: make down"

down: ## Stop everything `make up` (and `make airflow`, `make mlflow`) started
	@ops/mlflowctl stop
	@ops/airflowctl stop
	@ops/apictl stop
	@ops/redisctl stop
	@opensearch/opensearchctl stop

status: ## Show what runs and how healthy it is
	@opensearch/opensearchctl status || true
	@ops/redisctl status || true
	@ops/apictl status || true
	@ops/airflowctl status || true
	@ops/mlflowctl status || true

test: services ## Provision, start services, then lint, type-check and run every test
	@ops/ensure-axe >/dev/null
	@$(MAKE) --no-print-directory lint typecheck
	@ops/run-tests --durations=25 $(PYTEST_ARGS)

lint: bootstrap ## ruff (lint and format check)
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check --quiet . || { echo "run: $(PY) -m ruff format ."; exit 1; }

typecheck: bootstrap ## mypy --strict on quarry/, api/, pipelines/, dags/
	@$(PY) -m mypy

unit: bootstrap ## Unit tests only (no services needed)
	@ops/run-tests tests/unit -q

integration: services ## Integration and e2e tests only (real OpenSearch and Redis)
	@ops/run-tests tests/integration tests/e2e
	@ops/run-tests airflow -q

index: services ## Rebuild the products index from the demo catalog, then the vocabulary, catalog priors and embeddings
	@$(PY) -m pipelines index-demo >/dev/null
	@$(PY) -m pipelines vocabulary >/dev/null
	@$(PY) -m pipelines catalog-priors >/dev/null
	@$(PY) -m pipelines embeddings >/dev/null

import: services ## Import a catalog: make import FILE=path [FORMAT=csv|jsonl|parquet|wands] [STRICT=1]
	@test -n "$(FILE)" || { echo "usage: make import FILE=path [FORMAT=...] [STRICT=1]"; exit 2; }
	@$(PY) -m pipelines import "$(FILE)" $(if $(FORMAT),--format $(FORMAT)) $(if $(STRICT),--strict)
	@$(PY) -m pipelines embeddings >/dev/null  # the new catalog's vectors (cached ones are reused)
	@$(PY) -m pipelines catalog-priors >/dev/null  # cold-start recommendations of the new catalog

data-quality: services ## Run every data-quality check now (results: index quarry-data-quality, Pushgateway); exit 1 on a critical failure
	@$(PY) -m pipelines data-quality --suite all

catalog-priors: services ## Rank products by rating, reviews and freshness: the cold-start recommendations (artifact catalog-priors)
	@$(PY) -m pipelines catalog-priors >/dev/null

vocabulary: services ## Rebuild spelling dictionary, entity vocabularies and suggestions from the catalog
	@$(PY) -m pipelines vocabulary >/dev/null

embeddings: services ## Encode the catalog (new index version + FAISS artifact with category prototypes); only new/changed text is encoded, FULL=1 re-encodes all
	@$(PY) -m pipelines embeddings $(if $(FULL),--full) >/dev/null

privacy-migrate: services ## Pseudonymize ids of events and searches stored before pseudonymization (docs/privacy.md)
	@$(PY) -m pipelines privacy-migrate

events-retention: services ## Delete events and logged searches older than their retention (QUARRY_*_RETENTION_DAYS)
	@$(PY) -m pipelines events-retention

events-replay: services ## Load UBI events of any age from FILE (NDJSON or JSON); bad events are reported with a reason
	@test -n "$(FILE)" || { echo "usage: make events-replay FILE=events.ndjson" >&2; exit 2; }
	@$(PY) -m pipelines events-replay "$(FILE)"

events-fill-queries: services ## Give events that name a logged search its user_query (events of the last 2 days)
	@$(PY) -m pipelines events-fill-queries

judgments-coec: services ## Implicit judgments (COEC, as the Search Relevance Workbench makes them) from ubi_events into var/judgments/
	@$(PY) -m pipelines judgments-coec

rollback-index: services ## Point the products alias back at the previous index version
	@$(PY) -m pipelines rollback

synonyms-check: bootstrap ## Validate synonyms/*.txt (errors name file and line)
	@$(PY) -m pipelines synonyms-check

synonyms-suggest: services ## Mine candidate synonym pairs from clicks and embeddings into a review file (var/synonyms-suggested.txt); nothing is applied
	@$(PY) -m pipelines synonyms-suggest

synonyms-apply: services ## Make synonym edits live with zero downtime and print their impact
	@$(PY) -m pipelines synonyms-check
	@$(PY) -m pipelines synonyms-apply

semantic-floor: services ## Where the semantic similarity floor cuts: golden queries left without candidates vs nonsense admitted -> reports/semantic-floor.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines.semantic_floor

semantic-floor-mpnet: services ## The same with all-mpnet-base-v2 (the model store of make eval-mpnet) -> reports/semantic-floor-mpnet.*
	@$(MPNET) $(PY) -m pipelines index-demo --alias products_mpnet --if-empty >/dev/null
	@$(MPNET) $(PY) -m pipelines embeddings --alias products_mpnet --if-missing >/dev/null
	@$(MPNET) $(PY) -m pipelines.semantic_floor --report semantic-floor-mpnet

bench-search: services ## Search latency/QPS: raw OpenSearch vs API uncached (with and without LTR) vs cached -> reports/bench-search.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines.bench.search_bench

bench-understanding: services ## CPU per uncached search of the query-understanding step vs normalization alone -> reports/bench-understanding.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines.bench.understanding_bench

observe: ## Run a local Prometheus (Debian's) on :9090 scraping the API of make up and OpenSearch, with Quarry's alert rules
	@ops/ensure-system-packages
	@ops/observe

bench-ann: services ## recall@10 and latency of OpenSearch k-NN and FAISS vs exact search -> reports/ann-recall.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines.bench.ann_bench

bench-events: services ## Event ingestion events/s and ack latency at batch 1/50/500 vs raw bulk -> reports/bench-events.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines.bench.events_bench

bench-ratelimit: services ## CPU per rate-limit check: Quarry's pipelined script vs redis-py vs the limits library -> reports/bench-ratelimit.*
	@$(PY) -m pipelines.bench.ratelimit_bench

bench-ubi-ids: services ## API CPU per cached search with and without a client-supplied query_id, vs raw OpenSearch -> reports/bench-ubi-ids.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines.bench.ubi_ids_bench

train-ltr: services ## Train the LTR model (golden grades + click-model judgments), cross-validate against the formula, register it and move it to shadow when the gate passes -> reports/ltr-cv.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines train-ltr

eval-ltr: services ## The learned ranker through the whole pipeline, out of fold (a model per CV fold), vs the formula and raw BM25, with CV, time split and bench-search's serving cost -> reports/ltr.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines eval-ltr

ltr-export: bootstrap ## The feature set and the LTR model in the OpenSearch LTR plugin's formats, an upload script and an sltr rescore query -> var/ltr-export/
	@$(PY) -m pipelines ltr-export

ltr-replay: services ## Log LTR features for past searches (ubi_queries) not logged yet
	@$(PY) -m pipelines ltr-replay

bench-ltr-features: services ## OpenSearch CPU of the LTR templated features per window: named queries vs _msearch, vs the window query -> reports/bench-ltr-features.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines.bench.ltr_features_bench

airflow: services ## Start Airflow (UI on 127.0.0.1:8080, metadata in a local PostgreSQL) running the DAGs in dags/; prints the login
	@ops/airflowctl start

airflow-down: ## Stop Airflow, its Pushgateway and its PostgreSQL
	@ops/airflowctl stop

mlflow: bootstrap ## Serve MLflow's UI for the model registry on 127.0.0.1:5000 (var/mlflow); make down stops it
	@ops/mlflowctl start

screenshots: ## Screenshots of Airflow's DAG list and MLflow's model page (needs make airflow and make mlflow) -> reports/*.png
	@ops/ensure-system-packages
	@$(PY) -m pipelines.screenshots airflow
	@$(PY) -m pipelines.screenshots mlflow

ui-screenshots: services ## The storefront's browser tests, keeping their screenshots and axe results in reports/ui
	@ops/ensure-axe >/dev/null
	@UI_SCREENSHOTS_DIR=$(CURDIR)/reports/ui ops/run-tests tests/e2e/test_ui_browser.py -q

simulate: up ## Synthetic shoppers (2,000 users, 7 days) search the API and send events; SIM_ARGS=... to change
	@$(PY) -m pipelines simulate $(SIM_ARGS)

popularity: services ## Popularity and user category affinity from ubi_events (to the index and Redis)
	@$(PY) -m pipelines popularity

simulate-recommendations: up ## make simulate's shoppers open recommendations through the API and click them by taste (VISITS=2000): live evidence for a shadow or canary
	@$(PY) -m pipelines simulate-recommendations --visits $(or $(VISITS),2000) >/dev/null

train-als: services ## Train implicit ALS on ubi_events and register it: shadow through the offline gate (champion if none yet)
	@$(PY) -m pipelines train-als >/dev/null

models-watch: services ## One look at every shadow and canary: promote what passed, roll back a breached canary
	@$(PY) -m pipelines models watch

eval-recommend: services ## ALS vs popularity on a time split -> reports/eval-recommend.{json,md,png}
	@$(PY) -m pipelines eval-recommend

golden: services ## Re-grade the golden set (tests/golden/judgments.tsv.gz) against the demo catalog
	@$(PY) -m pipelines golden

security-audit: services ## Static scan, dependency CVEs, schemathesis on every endpoint -> reports/security-audit.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@UV="$(UV)" $(PY) -m pipelines security-audit

eval: services ## NDCG@10, MRR, zero-result rate: raw BM25 vs pipeline -> reports/eval-search.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines embeddings --if-missing >/dev/null
	@$(PY) -m pipelines eval

experiment-validation: up ## 100 A/A tests and a known-better A/B and interleaving test on simulated recommendation traffic (VISITS=24000; needs make simulate and make train-als) -> reports/experiments/validation.*
	@$(PY) -m pipelines experiment-validation --visits $(or $(VISITS),24000)

experiment-report: services ## A search or recommendation experiment's metrics from UBI (NAME=<experiment>), per variant with intervals and the SRM check -> reports/experiments/<name>.*
	@test -n "$(NAME)" || { echo "usage: make experiment-report NAME=<experiment>" >&2; exit 2; }
	@$(PY) -m pipelines experiment-report --name $(NAME)

understanding-report: services ## Never-harm, WANDS, misspelling and entity rates of the served artifact, with make eval per kind -> reports/query-understanding.*
	@$(PY) -m pipelines index-demo --if-empty >/dev/null
	@$(PY) -m pipelines vocabulary --if-missing >/dev/null
	@$(PY) -m pipelines.understanding_report $(if $(BASELINE),--baseline $(BASELINE)) $(if $(BASELINE_EVAL),--baseline-eval $(BASELINE_EVAL))

# all-mpnet-base-v2 beside the live catalog: its own alias and model store, so `make up` is untouched.
MPNET := QUARRY_ARTIFACTS_DIR=$(CURDIR)/var/mpnet-artifacts QUARRY_EMBEDDING_MODEL=all-mpnet-base-v2 QUARRY_EMBEDDING_DIMENSION=768

eval-mpnet: services ## The same evaluation with all-mpnet-base-v2 (own alias and model store; ~30 min) -> reports/eval-search-mpnet.*
	@$(MPNET) $(PY) -m pipelines index-demo --alias products_mpnet --if-empty >/dev/null
	@$(MPNET) $(PY) -m pipelines vocabulary --alias products_mpnet --if-missing >/dev/null
	@$(MPNET) $(PY) -m pipelines embeddings --alias products_mpnet --if-missing >/dev/null
	@$(MPNET) $(PY) -m pipelines eval --alias products_mpnet --report eval-search-mpnet

bench-index: services ## Indexing throughput vs plain opensearch-py helpers.bulk -> reports/bench-index.*
	@$(PY) -m pipelines.bench.index_bench

settings-table: bootstrap ## Regenerate the README's settings table from quarry/settings.py
	@$(PY) -m quarry.settings --update-readme

clean: down ## Stop everything and delete runtime state (var/); caches outside the checkout stay
	rm -rf var
