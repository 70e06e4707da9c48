# Classic CNNs: the two commands a newcomer needs.
#   make book   build the HTML book from the committed notebook outputs (no GPU, no dataset)
#   make test   unit tests + every notebook re-executed in quick mode, alone in an empty folder
#               against an installed wheel of cnnlib (the clean room) + strict book build
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

NOTEBOOKS := chapters whiteboard book practice

.PHONY: book test install browser unit notebooks practice colab colab-runtime release clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@$(MAKE) --no-print-directory browser
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium, which Playwright (requirements.txt) drives in tests/test_quiz_browser.py:
# the quiz box of the pages run in a real browser. Playwright's own browser download is not
# used (it needs a CDN, not a package registry). Where apt cannot install it (no root, no
# network) install goes on and that test skips, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium) || \
	  echo "make install: chromium could not be installed with apt-get;" \
	    "tests/test_quiz_browser.py will be skipped"

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --quiet
	@echo "The book is built: open $(CURDIR)/_build/html/index.html"

# Notebooks run in quick mode here, whatever the machine: CI checks logic, not accuracy. They run
# once, in the clean room (tools/cleanroom.py), as a Colab reader runs them: alone, in an empty
# folder, with cnnlib installed from a wheel with only its declared dependencies.
test: unit notebooks
	@echo "make test, 3/3: strict book build ..."
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --quiet
	@echo "make test: all passed; the book is in $(CURDIR)/_build/html/index.html"

unit: $(STAMP)
	@echo "make test, 1/3: unit tests ..."
	CNNLIB_MODE=quick $(PY) -m pytest tests -p no:cacheprovider -q

notebooks: $(STAMP)
	@echo "make test, 2/3: every notebook, quick mode, in the clean room ..."
	CNNLIB_MODE=quick $(PY) tools/cleanroom.py $(NOTEBOOKS)

# Practice copies of the chapters (code cells emptied) in practice/; CI checks they are current.
practice: $(STAMP)
	$(PY) tools/make_practice.py

# The Colab edition in colab/ (tools/make_colab.py): every notebook the launch buttons and the
# practice links open, with the book's MyST markup written as plain Markdown and no saved output
# in an answer cell. It is made from the sources, practice copies included, so those come first.
# CI checks it is current (tests/test_colab_edition.py); the clean room runs it.
colab: practice
	$(PY) tools/make_colab.py

# The clean room on Colab's runtime (tools/colab_runtime.py): Colab's Python and its versions of
# torch, numpy and the rest, read from its package lists in benchmarks/colab_runtime/. On demand,
# not in make test (the first run downloads about 2.9 GB). ONLY= picks notebooks or folders:
#   make colab-runtime ONLY="chapters/02_convolution.ipynb whiteboard/drill_lenet5.ipynb"
colab-runtime: $(STAMP)
	CNNLIB_MODE=quick $(PY) tools/colab_runtime.py $(or $(ONLY),$(NOTEBOOKS))

# A release: make release VERSION=0.2.0 (CONTRIBUTING.md, "Releasing").
release: $(STAMP)
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=0.2.0"; exit 2; }
	$(PY) tools/release.py release $(VERSION)

clean:
	rm -rf _build
