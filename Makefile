# The two commands of the README:
#   make demo   set up, then run the embedded demo (broker, worker, traffic, alerts on the console)
#   make test   set up (including the Debian services and tools the tests use), then run the whole suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
SYSTEM_PACKAGES := kcat prometheus-alertmanager victoria-metrics prometheus docker-compose

.PHONY: demo test setup system-packages bench clean

demo: setup
	$(BIN)/aiops demo $(ARGS)

test: setup system-packages
	$(BIN)/python -m pytest -q -p no:randomly $(PYTEST_ARGS)

bench: setup
	$(BIN)/aiops bench pipeline $(ARGS)

setup: $(VENV)/.installed

# torch is installed first, pinned to the release the code is tested with. Which build comes depends on
# where pip looks: where its configuration offers a CPU-only wheel of torch 2.13.0 on disk (a find-links
# directory, as on the machines the tests run on), that wheel is installed; elsewhere (Linux x86_64)
# PyPI's torch 2.13.0 is the CUDA build, which pulls several GB of NVIDIA libraries even without a GPU.
# For a CPU-only venv, install torch==2.13.0 into $(VENV) first from PyTorch's CPU wheel index (the one
# docker/Dockerfile uses); this step then keeps it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Real services for the integration tests: installed with apt-get when run as root.
system-packages:
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	[ -x /usr/bin/prometheus-alertmanager ] || missing="$$missing prometheus-alertmanager"; \
	[ -x /usr/bin/victoria-metrics ] || missing="$$missing victoria-metrics"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var build *.egg-info
