# Every target does all of its own set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision pins: these builds lie on the local disk of our machines (no 3 GB download).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint bench clean install install-dev

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# PYTHONWARNINGS: setuptools' editable build warns that a folder named like the package in
# the working directory may shadow it on import; here that folder is the package itself.
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q $(TORCH_PINS)
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	PYTHONWARNINGS=ignore $(BIN)/pip install -q $(TORCH_PINS) -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/audit run sample_configs/clinic_demo.yaml --overwrite

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check auditor tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/saliency.py

clean:
	rm -rf $(VENV) runs build *.egg-info
