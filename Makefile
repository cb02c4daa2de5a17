# Entry points. `make deploy` and `make test` work on a fresh Debian machine as root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INVENTORY ?= inventory/lab.py
ABIS := --abi cp311 --abi cp313

.PHONY: venv lab-up lab-down lab-status wheelhouse prepare deploy dry test unit lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The project's own bytecode, written here once: where PYTHONDONTWRITEBYTECODE is set (as on
# this machine), every pyinfra run would otherwise compile about 100 of its modules again.
venv: $(VENV)/.installed
	@$(PY) -m compileall -q -j 0 tabpy_provision lab bench tests

lab-up: venv
	$(PY) -m lab up

lab-down: venv
	$(PY) -m lab down

lab-status: venv
	$(PY) -m lab status

wheelhouse: venv
	$(VENV)/bin/tabpy-provision wheelhouse build $(ABIS)

# The lab's hosts (on a new machine: its two base images, built by mmdebstrap) and the
# wheelhouses (their downloads) at the same time. Each prints whole lines of its own (lab: ...,
# wheelhouse ...); make stops with the failing one's name when either fails.
prepare: venv
	@$(MAKE) --no-print-directory -j2 lab-up wheelhouse

deploy: prepare
	$(VENV)/bin/tabpy-provision deploy -i $(INVENTORY)
	$(VENV)/bin/tabpy-provision check -i $(INVENTORY)

# A preview: exit 0 when nothing would change, 2 when something would.
dry: prepare
	$(VENV)/bin/tabpy-provision deploy --dry -i $(INVENTORY)

lint: venv
	$(VENV)/bin/ruff check .

unit: venv wheelhouse
	$(VENV)/bin/pytest tests/unit

# The unit tests run beside the lab's (they share no host, only this machine's two cores);
# their report follows the lab's.
test: lint prepare
	@mkdir -p .cache
	@$(VENV)/bin/pytest -p no:cacheprovider tests/unit > .cache/unit-tests.log 2>&1 & unit=$$!; \
	$(VENV)/bin/pytest tests/integration; lab=$$?; \
	wait $$unit; units=$$?; cat .cache/unit-tests.log; \
	test $$lab -eq 0 && test $$units -eq 0

bench: prepare
	$(PY) -m bench

clean: lab-down
	rm -rf $(VENV)
