# Two commands: `make run` serves the API on PORT (8000); `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT   ?= 8000
STAGE  ?= dev

.PHONY: install checkov-install run test bench bench-seatmap bench-yield bench-checkin bench-scale bench-throughput bench-events soak package clean assets reset-data

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: install assets
	PORT=$(PORT) $(BIN)/python scripts/run_local.py

# Two worker processes (one per core), each taking whole test files, so module and session
# fixtures (the live stack) are shared as before: `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
test: install checkov-install assets
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build test-output .pytest_cache chalicelib/static/vendor chalicelib/static/openapi.json chalicelib/static/openapi.yaml tests/vendor

# --- documentation assets (issue 3) ---
# chalicelib/static/ (generated, gitignored): the OpenAPI document as JSON and YAML, and the pinned
# Swagger UI / ReDoc files from npm with their licences. Fetches from npm only when the pins change.
assets: install
	$(BIN)/python scripts/build_assets.py

# Whatever packages or deploys the app must ship the docs: `make package` builds them first.
package: assets

# --- packaging for AWS (issue 5): SAM template + deployment.zip in $(BUILD_DIR)/$(STAGE)/, linted ---
# `make package STAGE=prod`, then docs/deploy.md. Works offline. The template is region-independent
# (every ARN is built from AWS::Region), so the region below only satisfies `chalice package`.
BUILD_DIR ?= build
package: install checkov-install
	@case "$(STAGE)" in dev|prod) ;; *) echo "STAGE must be dev or prod, not '$(STAGE)'" >&2; exit 2;; esac
	rm -rf $(BUILD_DIR)/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package \
		--merge-template infra/template.yaml --stage $(STAGE) $(BUILD_DIR)/$(STAGE)
	$(BIN)/cfn-lint $(BUILD_DIR)/$(STAGE)/sam.yaml
	$(CHECKOV) -f $(BUILD_DIR)/$(STAGE)/sam.yaml
	@echo "wrote $(BUILD_DIR)/$(STAGE)/sam.yaml and $(BUILD_DIR)/$(STAGE)/deployment.zip (see docs/deploy.md)"

# --- benchmark and soak test (issues 4 and 6): never part of `make test`; see docs/benchmarks.md ---
# Both start their own local stack on free ports. `make bench BENCH_CLIENTS=1,8 BENCH_REQUESTS=100`,
# `make soak SOAK_CLIENTS=8 SOAK_SECONDS=10` for a short run (settings: bench/bench.py, bench/soak.py).
bench: install
	$(BIN)/python bench/bench.py

# Seat map of a 400-seat show, in process: DynamoDB requests and the app's own time (issue 12).
bench-seatmap: install
	$(BIN)/python bench/seatmap.py

# Seats best-available sells: seeded party streams on 3x8, the demo 10x12 and a 400-seat hall with
# aisles, against an upper bound, now and with the centre-first picker (issue 18). In process, ~20 s.
# `make bench-yield BENCH_YIELD_ARGS="--seeds 10 --choosers 0"` for a short run.
bench-yield: install
	$(BIN)/python bench/seat_yield.py $(BENCH_YIELD_ARGS)

soak: install
	$(BIN)/python bench/soak.py

# E-tickets (issue 19), in process: verification time per ticket code, DynamoDB requests per check-in.
bench-checkin: install
	$(BIN)/python bench/checkin.py

# --- checkov (issue 13): scans the packaged template in `make package`, and tests/test_packaging.py ---
# Its own venv: checkov pins a boto3 the app cannot use. Offline (--skip-download: no vendor API; no
# update check), so quiet: failed checks only, then the counts. Skips live in infra/template.yaml.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
CHECKOV       := CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact

checkov-install: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $@

# --- scaling benchmark (issue 9): cost per call as the table grows; see docs/benchmarks.md ---
# `make bench-scale BENCH_SCALE_ARGS="--sizes 0,2000 --repeat 5"` for a short run (settings: bench/scale.py).
bench-scale: install
	$(BIN)/python bench/scale.py $(BENCH_SCALE_ARGS)

# --- throughput (issue 9): 8 clients x 20 s of list shows -> book -> cancel; see docs/benchmarks.md ---
# `make bench-throughput BENCH_THROUGHPUT_ARGS="--django-url http://127.0.0.1:8600"` also measures the original.
bench-throughput: install
	$(BIN)/python bench/throughput.py $(BENCH_THROUGHPUT_ARGS)

# --- the embedded DynamoDB's data (issue 9): kept in .local-data/ between `make run`s ---
# `make reset-data` (or `make run FRESH=1`) starts from empty. Refused while a `make run` holds the folder.
LOCAL_DATA_DIR ?= .local-data
reset-data:
	@if [ -d "$(LOCAL_DATA_DIR)" ] && command -v flock >/dev/null && ! flock -n "$(LOCAL_DATA_DIR)/lock" true 2>/dev/null; then \
		echo "$(LOCAL_DATA_DIR) is in use by a running make run; stop it first" >&2; exit 2; fi
	rm -rf "$(LOCAL_DATA_DIR)"
	@echo "$(LOCAL_DATA_DIR) removed: the next make run starts from empty"

# --- events (issue 20): commit -> webhook latency against make run's stack; see docs/benchmarks.md ---
# `make bench-events BENCH_EVENTS_ARGS="--bookings 100 --poll 0.25"` (settings: bench/event_latency.py).
bench-events: install
	$(BIN)/python bench/event_latency.py $(BENCH_EVENTS_ARGS)
