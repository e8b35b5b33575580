# The two commands: `make serve` (the site) and `make test` (everything). Both set themselves up from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: serve test test-fast lab notebooks benchmark system-deps pg-start pg-stop clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Browser tests need Chromium and CJK fonts from the system; the Chinese-server tests a zh_CN.UTF-8 locale (package
# locales). Install them when we can (root + apt-get).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	[ -e /usr/share/i18n/locales/zh_CN ] || missing="$$missing locales"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else echo "please install:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)"; exit 1; fi; \
	fi; \
	if ! locale -a 2>/dev/null | grep -qix 'zh_CN.utf8'; then \
		if [ "$$(id -u)" = 0 ]; then localedef -i zh_CN -c -f UTF-8 zh_CN.UTF-8; \
		else echo "please generate the zh_CN.UTF-8 locale (Debian: sudo localedef -i zh_CN -f UTF-8 zh_CN.UTF-8)"; exit 1; fi; \
	fi

# Twice as many workers as cores: much of the suite waits on servers and subprocesses.
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

# loadgroup: the tests of the built site (and the browser) share one worker, so no other waits for the build.
test: $(INSTALLED) system-deps
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup

# The inner loop: everything but the tests marked slow (servers of their own, notebook runs, site, browser).
test-fast: $(INSTALLED)
	$(PY) -m pytest tests -n $(WORKERS) --dist loadgroup -m "not slow"

serve: $(INSTALLED)
	SCRYER_SITE_URL=http://127.0.0.1:8000/ $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

lab: $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[test,lab]'
	$(PY) -m scryer_runbook.cli lab

notebooks: $(INSTALLED)
	$(PY) -m scryer_runbook.cli regenerate-notebooks

# e.g. make benchmark BENCHMARK_ARGS="--suite" (also times make test-fast and make test)
benchmark: $(INSTALLED)
	$(PY) benchmarks/run.py $(BENCHMARK_ARGS)

pg-start: $(INSTALLED)
	$(PY) -m scryer_runbook.cli pg start

pg-stop: $(INSTALLED)
	$(PY) -m scryer_runbook.cli pg stop

clean:
	rm -rf $(VENV) site test-artifacts
