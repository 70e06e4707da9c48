# Classic CNNs: the two commands a newcomer needs.
#   make book   build the HTML book from the committed notebook outputs (no GPU, no dataset)
#   make test   unit tests + every notebook re-executed in quick mode (nbval) + strict book build
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test install unit notebooks practice clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --quiet
	@echo "The book is built: open $(CURDIR)/_build/html/index.html"

# Notebooks run in quick mode here, whatever the machine: CI checks logic, not accuracy.
test: $(STAMP)
	CNNLIB_MODE=quick $(PY) -m pytest tests chapters whiteboard book --nbval-lax \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --quiet
	@echo "make test: all passed; the book is in $(CURDIR)/_build/html/index.html"

unit: $(STAMP)
	CNNLIB_MODE=quick $(PY) -m pytest tests -q

notebooks: $(STAMP)
	CNNLIB_MODE=quick $(PY) -m pytest chapters whiteboard book --nbval-lax \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q

# Practice copies of the chapters (code cells emptied) in practice/; CI checks they are current.
practice: $(STAMP)
	$(PY) tools/make_practice.py

clean:
	rm -rf _build
