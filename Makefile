# Thin wrapper around the venv, the runner (python -m lib.book) and pytest.
# `make book` and `make test` are the two commands of the README.
PY      := .venv/bin/python
PROFILE ?= default
JOBS    ?= 2
ARGS    ?=

.PHONY: install browser book test test-fast lint bench gpu-check chapter archive new-chapter clean

install: .venv/.installed

.venv/.installed: requirements.txt pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m lib.book assets
	$(PY) -m lib.real fetch
	touch $@

## Headless Chromium for the browser tests (Debian packages; needs root; tests skip without).
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

## Execute every chapter (default profile), build the HTML strictly, print where it is.
book: install
	$(PY) -m lib.book build --profile $(PROFILE) -j $(JOBS) $(ARGS)

## All tests: lib units, runner, chapter contract, smoke build of the whole book + HTML checks.
test: install
	$(PY) -m pytest -q

## Unit tests only (no chapter executions, no book build).
test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	.venv/bin/ruff check lib tests benchmarks

## Batched sweeps vs one model at a time, every chapter (add ARGS=--quick for a short run).
bench: install
	$(PY) -m benchmarks $(ARGS)

## On a GPU, a few minutes: CUDA equivalence and memory tests, CUDA benchmarks (FLOP/s vs peak),
## torch.compile and TF32 measured, and every chapter's smoke profile end to end on CUDA.
gpu-check: install
	TEST_DEVICES=cuda $(PY) -m pytest -q tests/test_cuda.py tests/test_host_syncs.py
	$(PY) -m pytest -q -k cuda tests/test_one_third.py tests/test_depth.py tests/test_superposition.py tests/test_es.py
	$(PY) -m benchmarks --device cuda --quick
	$(PY) -m benchmarks.compile_check --device cuda
	BOOK_BUILD_DIR=_build/gpu $(PY) -m lib.book build --profile smoke --device cuda --force

## Re-run one chapter: make chapter CH=one_third_time ARGS="-p seed 1"
chapter: install
	$(PY) -m lib.book run $(CH) --profile $(PROFILE) $(ARGS)

## On a GPU: run chapters at paper scale and keep them in archive/full/ (shown in the book):
## make archive CH="one_third_time inverse_depth"
archive: install
	$(PY) -m lib.book archive $(CH) --profile full --device cuda $(ARGS)

## Scaffold a new chapter: make new-chapter NAME=my_study
new-chapter: install
	$(PY) -m lib.book new-chapter $(NAME)

clean:
	rm -rf _build results .pytest_cache
