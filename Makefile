# The two commands a new user runs: `make test` and `make demo`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo demo-engine sticker patch bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/edgeguard demo

# Re-export the demo engines shipped for runtime installs (defended default + undefended signs;
# after the sign weights or defenses change);
# tests/test_runtime_install.py checks that the shipped copies equal fresh exports.
demo-engine: $(STAMP)
	$(BIN)/python -m edgeguard.camera.default

# Re-optimise the shipped RP2 sticker for the demo engine's configuration (signs + bits:5 → median:3x3),
# fixed seed: edgeguard/models/stickers/stop-bars.png (+ .json with the measured fooled rate).
sticker: $(STAMP)
	$(BIN)/edgeguard attack rp2 --model signs --defense bits:5 --defense median:3x3 --mask bars \
	    --steps 150 --eot 8 --views 200 --seed 0 --out edgeguard/models/stickers/stop-bars.png

bench: $(STAMP)
	$(BIN)/python -m pip install -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check edgeguard tests benchmarks
	$(BIN)/ruff format --check edgeguard tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info

# Re-optimise the shipped person-hiding patch for the embedded persons detector (after its weights change),
# fixed seeds: edgeguard/models/patches/person.png (+ .json with recall clean / random / patch, .examples.png).
patch: $(STAMP)
	$(BIN)/edgeguard attack patch --model persons --scale 0.25 --steps 120 --fit 96 --test 100 --seed 0 \
	    --out edgeguard/models/patches/person.png

# Stop-sign drive-by scenario (--quick) and the README table generated from its results.json
# (README "Stop-sign scenario"; best_realtime / best_cheap name the demo's engine choices).
.PHONY: scenario
scenario: $(STAMP)
	$(BIN)/edgeguard scenario stop-sign --quick --out build/scenario-quick
	cp build/scenario-quick/results.json benchmarks/results/scenario-stop-sign-quick.json
	$(BIN)/python -m edgeguard.scenario.stop_report README.md benchmarks/results/scenario-stop-sign-quick.json
