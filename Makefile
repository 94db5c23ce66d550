# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_JEST := NODE_OPTIONS=--experimental-vm-modules npx jest

.PHONY: help deps build typecheck run test bench bench-quick bench-mesh soak services clean

help:
	@echo "make run    start a whole node on embedded defaults (one process)"
	@echo "make test   install what is missing, type-check, run every test"
	@echo "make bench  benchmarks (make bench-quick: the short smoke run of make test)"
	@echo "make bench-mesh  the mesh on the many-host bed: convergence and expiry (about 8 min)"

# Installs dependencies when missing or older than the lock file.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

build: deps
	npx tsc -b tsconfig.build.json
	npm run --silent build:browser -w @mesh/sigmesh

typecheck: deps
	npx tsc -p tsconfig.json

run: build
	node apps/embedded/dist/main.js

services:
	bash scripts/ensure-services.sh

# The benchmark smoke (bench-quick) runs first, asserting nothing about speed;
# the test run ends with one plain line, "jest: N passed, N failed", read by CI.
# Tests named *.serial.test.ts measure the cpu of a process against a bound: they run
# after the others, alone, so two suites running at once on 2 cores do not inflate it.
test: deps services typecheck build bench-quick
	@status=0; $(NODE_JEST) --maxWorkers=2 --testPathIgnorePatterns '/node_modules/' '\.serial\.test\.ts$$' \
	  --json --outputFile=.jest-results.json || status=$$?; \
	$(NODE_JEST) --runInBand --testPathPatterns '\.serial\.test\.ts$$' --json --outputFile=.jest-results-serial.json || status=$$?; \
	node scripts/jest-summary.mjs .jest-results.json .jest-results-serial.json || true; \
	exit $$status

bench: build services
	npx tsc -b bench
	bash bench/run.sh

bench-quick: build services
	npx tsc -b bench
	BENCH_QUICK=1 bash bench/run.sh

# The mesh on the many-host bed (root, Linux network namespaces): convergence
# (median of 3 runs), rerouting of clients, expiry of the dead. About 8 minutes.
bench-mesh: build services
	$(NODE_JEST) --runInBand --testMatch '<rootDir>/test/bed/*.bench.ts'

# 30 minutes of mixed load on the embedded node and a cluster at once, RSS and open fds every
# minute (SOAK_MINUTES to change); figures in BENCHMARKS.md.
soak: build services
	npx tsc -b bench
	node bench/dist/soak.js --minutes $${SOAK_MINUTES:-30}

clean:
	rm -rf libs/*/dist services/*/dist apps/*/dist bench/dist
