# One entry point for people and CI. Needs only python3 (3.13 is picked up through
# .python-version) and make; uv is bootstrapped into .tools/ when it is not there.
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen --all-extras

.PHONY: run test test-packages lint sync clean bench simulate asyncapi

run: sync ## start the embedded servers, all three services and the operator console
	$(RUN) order-platform dev $(ARGS)

# Two workers (pytest-xdist): the suite waits on processes and servers about half its time.
# `--dist load`, not `loadfile`: schemathesis gives each API operation's test the same node id,
# and loadfile runs only one test per node id.
test: sync lint test-packages ## lint, types, import contracts, then the whole test suite
	$(RUN) pytest -n 2 --dist load $(ARGS)

test-packages: ## Debian packages the suite needs (libfaketime), when missing
	scripts/install-test-packages

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

sync: $(UV)
	$(UV) sync --frozen --all-extras --quiet

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache .import_linter_cache

bench: sync ## benchmark the whole platform on the embedded servers (see scripts/bench.py)
	$(RUN) --group bench python scripts/bench.py $(ARGS)

simulate: sync ## the deterministic simulation: SEED=n replays one run, SEEDS=n runs that many, SHRINK=n lets hypothesis look for a failing run and shrink it
	$(RUN) python -m tests.simulation $(if $(SEED),--seed $(SEED),$(if $(SHRINK),--shrink $(SHRINK),--seeds $(or $(SEEDS),1000))) $(ARGS)

asyncapi: sync ## regenerate docs/asyncapi.json, the events' AsyncAPI document, from contracts/
	$(RUN) python -m order_platform.contracts.asyncapi docs/asyncapi.json
