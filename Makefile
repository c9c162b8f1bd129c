# One-command set-up: every target below creates .venv and installs the pinned dependencies first.
# A second run reinstalls nothing unless requirements.txt or setup.py changed (the stamp file).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Large best-effort messages (640x480 depth and clouds) need the shared-memory profile between processes.
# The venv's Fast DDS 3 (Kilted) reads FASTDDS_* (FASTRTPS_* is deprecated there). A profile already set wins.
FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds.xml
export FASTDDS_DEFAULT_PROFILES_FILE

.PHONY: setup test lint demo bench clean

setup: $(STAMP)

# One pip command for everything (torch and colcon-core must agree on setuptools in one resolver run).
# The local mirror prints a warning per package it does not hold; those lines are noise and are filtered.
$(STAMP): requirements.txt setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt -e . 2>&1 \
		| { grep -v 'is ignored: it is neither a file nor a directory' || true; }
	touch $@

# Lint, format and type checks first (settings: pyproject.toml), then the tests.
test: $(STAMP) msgs lint
	$(BIN)/python -m pytest test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# stdnet_ros_interfaces (msg/) built with colcon from the wheels into build_msgs/; rebuilt only when its sources
# or the venv change (the stamp file).
.PHONY: msgs
msgs: build_msgs/.built
build_msgs/.built: $(STAMP) tools/build_msgs.sh msg/package.xml msg/CMakeLists.txt $(wildcard msg/msg/*.msg)
	tools/build_msgs.sh $(VENV)
	touch $@

demo: $(STAMP) msgs
	$(BIN)/stdnet demo

bench: $(STAMP) msgs
	$(BIN)/stdnet bench model

clean:
	rm -rf $(VENV) build install log build_msgs *.egg-info
