# Speech emotion recognition recipe. Every target runs inside .venv (made by `make install`).
PY := .venv/bin/python
STAMP := .venv/.installed
export HF_HUB_DISABLE_TELEMETRY := 1

# Full recipe (real corpora under data/raw/, see configs/data.yaml)
DATA ?= data/prepared
OUT ?= outputs/recipe
MODEL ?= $(OUT)
SPLIT ?= test

# Embedded demo (synthetic corpus, tiny model trained from scratch, offline)
DEMO_RAW ?= outputs/demo/corpus
DEMO_DATA ?= outputs/demo/prepared
DEMO_OUT ?= outputs/demo/model
DEMO_ABLATION ?= outputs/demo/ablation

# Ablation runner (docs/evaluation.md): variants x seeds of one config
ABLATION ?= outputs/ablation
SEEDS ?= 3
VARIANTS ?=
ABLATE_ARGS ?=

.PHONY: install lint test test-fast prepare train evaluate baseline card demo ablate ablate-demo search tensorboard bench predict export app clean

install: $(STAMP)

$(STAMP): requirements.txt tools/install.sh
	bash tools/install.sh
	touch $@

# Lint (ruff, configured in pyproject.toml), then the whole suite: what CI (.ci/run) runs. Offline: HF_HUB_OFFLINE=1.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2 --dist loadfile tests

# The inner loop: every test not marked slow (no training, no spawned process).
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2 --dist loadfile -m "not slow" tests

prepare: $(STAMP)
	$(PY) -m data_prep --config configs/data.yaml --output $(DATA) --overwrite

train: $(STAMP)
	$(PY) -m recipe.train --config configs/recipe.yaml --data $(DATA) --output_dir $(OUT)
	$(PY) -m recipe.evaluate --model $(OUT) --data $(DATA) --split $(SPLIT)
	$(PY) -m recipe.baseline --model $(OUT) --data $(DATA)
	$(PY) -m model_card --model $(OUT) --data $(DATA)

evaluate: $(STAMP)
	$(PY) -m recipe.evaluate --model $(MODEL) --data $(DATA) --split $(SPLIT)

# openSMILE eGeMAPS + logistic regression on the same splits, folded into MODEL/eval_results.json
baseline: $(STAMP)
	$(PY) -m recipe.baseline --model $(MODEL) --data $(DATA)

ablate: $(STAMP)
	$(PY) -m recipe.experiments --config configs/recipe.yaml --data $(DATA) --output $(ABLATION) --seeds $(SEEDS) \
		$(if $(VARIANTS),--variants $(VARIANTS)) $(ABLATE_ARGS)

# Hyperparameter search (docs/scale.md): N_TRIALS trials over SPACE, resumable; SEARCH/best_config.yaml at the end.
SEARCH ?= outputs/search
SPACE ?= configs/search.yaml
N_TRIALS ?= 20
search: $(STAMP)
	$(PY) -m recipe.search --config configs/recipe.yaml --data $(DATA) --output $(SEARCH) --space $(SPACE) \
		--n_trials $(N_TRIALS) $(SEARCH_ARGS)

# TensorBoard over every run's logs (report_to: tensorboard), e.g. make tensorboard LOGDIR=outputs/ablation/tensorboard
LOGDIR ?= outputs
TB_PORT ?= 6006
tensorboard: $(STAMP)
	$(PY) -m tensorboard.main --logdir $(LOGDIR) --port $(TB_PORT)

# DATA only when given (make card MODEL=DIR [DATA=DIR]); otherwise the data_dir recorded in MODEL/run_info.json.
card: $(STAMP)
	$(PY) -m model_card --model $(MODEL) $(if $(filter-out file,$(origin DATA)),--data $(DATA))

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m demo.corpus --output $(DEMO_RAW)
	HF_HUB_OFFLINE=1 $(PY) -m data_prep --config configs/demo_data.yaml --corpus folder=$(DEMO_RAW) --output $(DEMO_DATA) --overwrite
	HF_HUB_OFFLINE=1 $(PY) -m recipe.train --config configs/demo.yaml --data $(DEMO_DATA) --output_dir $(DEMO_OUT)
	HF_HUB_OFFLINE=1 $(PY) -m recipe.evaluate --model $(DEMO_OUT) --data $(DEMO_DATA) --split test
	HF_HUB_OFFLINE=1 $(PY) -m recipe.baseline --model $(DEMO_OUT) --data $(DEMO_DATA)
	HF_HUB_OFFLINE=1 $(PY) -m model_card --model $(DEMO_OUT) --data $(DEMO_DATA) \
		$(if $(wildcard $(DEMO_ABLATION)/ablation_results.json),--ablation $(DEMO_ABLATION)/ablation_results.json)
	HF_HUB_OFFLINE=1 $(PY) -m demo.pipeline --model $(DEMO_OUT) --corpus $(DEMO_RAW)

# The demo's variants x 2 seeds (resumable); re-renders the demo card with them when `make demo` has run.
ablate-demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m demo.corpus --output $(DEMO_RAW)
	HF_HUB_OFFLINE=1 $(PY) -m data_prep --config configs/demo_data.yaml --corpus folder=$(DEMO_RAW) --output $(DEMO_DATA) --overwrite
	HF_HUB_OFFLINE=1 $(PY) -m recipe.experiments --config configs/demo.yaml --data $(DEMO_DATA) \
		--output $(DEMO_ABLATION) --seeds 2 $(ABLATE_ARGS)
	$(if $(wildcard $(DEMO_OUT)/eval_results.json),HF_HUB_OFFLINE=1 $(PY) -m model_card --model $(DEMO_OUT) \
		--data $(DEMO_DATA) --ablation $(DEMO_ABLATION)/ablation_results.json)

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

predict: $(STAMP)
	$(PY) -m recipe.predict $(MODEL) $(FILES)

# ONNX export with an int8 copy into MODEL/onnx; int8 agreement on DATA's validation split when DATA is given.
export: $(STAMP)
	$(PY) -m recipe.export --model $(MODEL) --quantize int8 $(if $(filter-out file,$(origin DATA)),--data $(DATA))

# Web demo on http://127.0.0.1:$(PORT)/
PORT ?= 7860
app: $(STAMP)
	$(PY) -m recipe.app --model $(MODEL) --port $(PORT)

clean:
	rm -rf outputs .pytest_cache
