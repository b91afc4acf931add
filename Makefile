# Two entry points for a fresh machine (see README):
#   make demo   set up, then find the poses on a photo with the pretrained model
#   make test   set up, then run the whole test suite
VENV ?= .venv
# The demo photo ships with scikit-image (NASA's public-domain portrait of astronaut Eileen Collins).
DEMO_IMAGE = $(shell $(VENV)/bin/python -c 'import importlib.resources as r; print(r.files("skimage") / "data" / "astronaut.png")')
OUT ?= runs/demo
# Test processes (pytest-xdist, one test file per process at a time): 2 overlaps one file's waiting
# (subprocesses, servers, Python-only work) with another's TensorFlow; TEST_JOBS=0 runs in-process.
TEST_JOBS ?= 2

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/edgepose predict $(or $(IMAGE),$(DEMO_IMAGE)) --output $(OUT)

test: setup
	$(VENV)/bin/python -m pytest tests -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache
