# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e bench chromium clean package cfn-lint deploy

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Chairside needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

# Template checks run from their own virtualenv: aws-sam-translator pins a pydantic the app does not ship.
TOOLS := build/venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
$(TOOLS_STAMP): infra/requirements-tools.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-tools.txt
	@touch $(TOOLS_STAMP)

# out/ is rebuilt only when what ships changes; chalice caches the dependency layer in .chalice/deployments.
PACKAGE_INPUTS := app.py requirements.txt .chalice/config.json $(wildcard .chalice/policy-*.json) \
	infra/resources.yaml infra/package.py $(shell find chalicelib -name '*.py' 2>/dev/null)
out/sam.yaml: $(STAMP) $(PACKAGE_INPUTS)
	$(PY) -m infra.package out

package: out/sam.yaml

cfn-lint: out/sam.yaml $(TOOLS_STAMP)
	$(TOOLS)/bin/cfn-lint out/sam.yaml

# Needs the AWS CLI v2 and a configured profile: AWS_PROFILE=... DOMAIN=... CERTIFICATE_ARN=... SENDER=... make deploy
deploy: package
	sh infra/deploy.sh

run: $(STAMP)
	$(PY) -m local.run

chromium:
	@sh scripts/ensure-chromium.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) chromium lint typecheck cfn-lint
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

e2e: $(STAMP) chromium
	$(PY) -m pytest tests/e2e

# `make bench BENCH=load` runs one (names in bench/__main__.py).
bench: $(STAMP) out/sam.yaml
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out build
