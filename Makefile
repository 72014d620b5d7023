# Every target bootstraps .venv on a fresh clone. The venv is built with Python 3.13 (the Lambda
# runtime) when this machine has it, else the newest Python >= 3.11 on PATH.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON_FOR_VENV := $(shell for c in "env PYENV_VERSION=3.13.0 python3.13" python3.13 python3.12 python3.11 python3; do \
	$$c -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo "$$c"; break; }; done)

.PHONY: dev test test-unit test-integration test-browser lint bench reliability scan build deploy replay clean openapi publish

$(STAMP): pyproject.toml layers/booking/requirements.txt
	@test -n '$(PYTHON_FOR_VENV)' || { echo "Python >= 3.11 is required"; exit 1; }
	@test -x $(PY) || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make dev: the whole local stack in the foreground (Ctrl-C stops all of it)
dev: $(STAMP)
	$(PY) -m local.dev

## make test: unit, integration (real local stack) and browser tests
test: $(STAMP)
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

test-browser: $(STAMP)
	$(PY) -m pytest tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/booking/booking functions/api/app.py local
	$(VENV)/bin/mypy functions/replay/app.py

## make bench: cold start, warm overhead, throughput, artifact size
bench: $(STAMP)
	$(PY) -m local.bench

## make reliability: fault-injection scenarios against the local stack; writes docs/reliability.md
reliability: $(STAMP)
	$(PY) -m local.reliability

## make openapi: write docs/openapi.json (the HTTP API) and docs/schemas/ (the event details) from the code
openapi: $(STAMP)
	$(PY) -m local.openapi

## make replay: move events parked in the dead-letter queue back onto the bus
replay: $(STAMP)
	$(PY) -m local.replay

## Tools that pin versions conflicting with the function's (boto3, pydantic) live in their own
## venvs under .tools/, installed on first use; a `sam` or `checkov` on PATH is used instead.
SAM := $(shell command -v sam 2>/dev/null || echo .tools/sam/bin/sam)
CHECKOV := $(shell command -v checkov 2>/dev/null || echo .tools/checkov/bin/checkov)

.tools/sam/bin/sam:
	$(PYTHON_FOR_VENV) -m venv .tools/sam
	.tools/sam/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0

.tools/checkov/bin/checkov:
	$(PYTHON_FOR_VENV) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30

## make scan: checkov on the template (every suppression carries its reason in the template)
scan: $(CHECKOV)
	$(CHECKOV) -f template.yaml --framework cloudformation --compact --quiet

build: $(SAM)
	$(SAM) build

deploy: build
	$(SAM) deploy --guided

## make publish BUCKET=<bucket>: build, package and publish this version to the AWS Serverless
## Application Repository (the bucket receives the code, README and LICENSE; see CONTRIBUTING.md)
publish:
	@test -n '$(BUCKET)' || { echo "make publish needs BUCKET=<S3 bucket for the packaged code, README and LICENSE>" >&2; exit 2; }
	$(MAKE) build
	$(SAM) package --template-file .aws-sam/build/template.yaml --output-template-file .aws-sam/packaged.yaml --s3-bucket $(BUCKET)
	$(SAM) publish --template .aws-sam/packaged.yaml

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .local-state
