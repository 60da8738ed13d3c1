# ChainMatch: `make run` starts the product, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# one stamp per level: `make run` installs the serving set, `make test` adds the development set to the same .venv
SERVE_STAMP := $(VENV)/.serve-installed
DEV_STAMP := $(VENV)/.dev-installed
NEO4J_DIR := graph/neo4j_server
NEO4J_JAR := $(NEO4J_DIR)/target/neo4j-server-1.0.0.jar
TEST_INSTANCE := $(CURDIR)/instance/test
# the test server gets its own port, so tests never touch a development Neo4j on 7687
# database-facing tests also run on PostgreSQL: `marketplace postgres start` runs one on a free port
# pytest-xdist workers (one per logical CPU; `make test TEST_WORKERS=0` runs in one process); tests that share
# the one Neo4j server (tests/graph/test_contract.py) run on one worker: --dist loadfile keeps a file on one
TEST_WORKERS ?= logical
TEST_ENV := MARKETPLACE_INSTANCE_DIR=$(TEST_INSTANCE) MARKETPLACE_NEO4J_URI=bolt://127.0.0.1:7688 MARKETPLACE_REQUIRE_NEO4J=1 MARKETPLACE_REQUIRE_POSTGRES=1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup setup-serve serve-deps system-deps run test screenshots lint translations neo4j-build neo4j-start neo4j-stop clean bench evaluate

## setup-serve: create .venv and install what serving needs (requirements/serve.txt: no PyTorch, about 0.9 GB)
setup-serve: $(SERVE_STAMP)

## setup: everything (requirements/dev.txt: serving + PyTorch, training, tests and tooling); fast when nothing changed
setup: $(DEV_STAMP)

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(SERVE_STAMP): requirements/serve.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements/serve.txt
	touch $(SERVE_STAMP)

# dev.txt includes serve.txt, so after `make run` this only adds the development set
$(DEV_STAMP): requirements/dev.txt requirements/serve.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(SERVE_STAMP) $(DEV_STAMP)

## serve-deps: the CJK font contract PDFs embed (fonts-wqy-zenhei) from Debian when missing (needs root)
serve-deps:
	@test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || { echo "installing: fonts-wqy-zenhei"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null; }

## system-deps: Java, Maven, Chromium, PostgreSQL and CJK fonts (wqy-zenhei is embedded in contract PDFs) from Debian when missing (needs root, as on CI)
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	fc-list 2>/dev/null | grep -qi "noto.*cjk" || missing="$$missing fonts-noto-cjk"; \
	test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || missing="$$missing fonts-wqy-zenhei"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## neo4j-build: build our Neo4j launcher (real Neo4j Community 5.26 from Maven Central)
neo4j-build: $(NEO4J_JAR)

$(NEO4J_JAR): $(NEO4J_DIR)/pom.xml $(shell find $(NEO4J_DIR)/src -name '*.java')
	cd $(NEO4J_DIR) && mvn -B -q package -DskipTests

## run: install the serving set, load the demo data and serve http://127.0.0.1:5000
run: setup-serve serve-deps
	$(PY) -m marketplace init-db
	$(PY) -m marketplace contracts pki rekey
	$(PY) -m marketplace demo load
	$(PY) -m marketplace index build
	$(PY) -m marketplace demo accounts
	$(PY) -m marketplace serve --host 127.0.0.1 --port 5000

## test: set up, start Neo4j and PostgreSQL, run every test (database tests on SQLite and PostgreSQL), stop both
test: setup system-deps neo4j-build
	$(TEST_ENV) $(PY) -m marketplace neo4j start
	$(TEST_ENV) $(PY) -m marketplace postgres start --fast || { $(TEST_ENV) $(PY) -m marketplace neo4j stop; exit 1; }
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	$(TEST_ENV) $(PY) -m marketplace postgres stop; \
	$(TEST_ENV) $(PY) -m marketplace neo4j stop; exit $$rc

## screenshots: refresh docs/screenshots from the browser tests
screenshots: setup system-deps
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser -q

lint: setup
	$(PY) -m ruff check .

## translations: collect new service messages (marketplace.errors.msg) into the Chinese catalogue,
## then compile every catalogue; translate the empty entries of errors.po and run it again
translations: setup-serve
	$(VENV)/bin/pybabel extract -F babel-errors.cfg -k msg --no-default-keywords --omit-header \
	  -o web/translations_errors/errors.pot marketplace web embeddings graph
	$(VENV)/bin/pybabel update -D errors -l zh -i web/translations_errors/errors.pot -d web/translations_errors \
	  --no-fuzzy-matching --ignore-obsolete
	$(VENV)/bin/pybabel compile -D errors -d web/translations_errors
	$(VENV)/bin/pybabel compile -d web/translations
	$(VENV)/bin/pybabel compile -d web/translations_services

bench: setup
	$(PY) bench/match_latency.py
	$(PY) bench/graph_latency.py
	$(PY) bench/event_scheduler.py
	$(PY) bench/event_scheduler.py --only big
	$(PY) bench/contracts_signing.py

evaluate: setup
	$(PY) -m marketplace evaluate

clean:
	rm -rf instance/test $(NEO4J_DIR)/target
