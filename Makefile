# ldm-teach: one command to open the course, one to test it.
#   make lab    create .venv, install, open JupyterLab on the course home notebook
#   make test   create .venv, install, check the code style, run the whole test suite
#               (ruff check + ruff format --check, unit tests, notebooks)
#   make demo   sample digits from the shipped models, write a PNG, print the accuracy
#   make notebooks   re-execute every notebook in place (outputs are committed)
#   make weights     retrain every shipped checkpoint from scratch (replaces them)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# PyTorch first, so pip resolves the rest against it. Override for another build, e.g.
#   make lab TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
NOTEBOOKS := notebooks/00_course_home.ipynb notebooks/10_1_pixel_to_latent.ipynb \
	notebooks/10_2_autoencoders.ipynb notebooks/10_3_latent_diffusion.ipynb \
	notebooks/10_4_stable_diffusion.ipynb
# every shipped checkpoint, in dependency order (feature net, autoencoders, then LDMs;
# 10.4: shapes autoencoder, caption judge, mini-CLIP, then the text-to-image models)
WEIGHTS := digits-features digits-kl-f4 photos-kl-f4 digits-vq-f4 digits-kl-f8 \
	digits-kl-f8-perceptual digits-kl-f16 \
	photos-rd-f2-c4 photos-rd-f2-c8 photos-rd-f4-c4 photos-rd-f4-c8 \
	photos-rd-f8-c4 photos-rd-f8-c8 photos-rd-f16-c4 photos-rd-f16-c8 \
	digits-klw-0 digits-klw-1e-06 digits-klw-1e-05 digits-klw-0.0001 digits-klw-0.001 \
	digits-ldm digits-cmp-f4 digits-cmp-f8 digits-cmp-f16 digits-cmp-pixel digits-cmp-pool \
	digits-xattn-fine digits-xattn-coarse digits-sched-linear digits-sched-cosine \
	digits-sched-raw digits-sched-heuristic digits-sched-shift digits-sched-resolution \
	shapes-kl-f4 shapes-judge shapes-clip shapes-t2i shapes-t2i-frozen shapes-t2i-joint \
	shapes-t2i-embeddings
TMP_HOME := $(CURDIR)/.tmp-home
# Keep Jupyter, IPython and matplotlib state out of the user's home during tests.
TEST_ENV := IPYTHONDIR=$(TMP_HOME)/ipython MPLCONFIGDIR=$(TMP_HOME)/mpl \
	JUPYTER_CONFIG_DIR=$(TMP_HOME)/jupyter JUPYTER_DATA_DIR=$(TMP_HOME)/jupyter-data \
	JUPYTER_RUNTIME_DIR=$(TMP_HOME)/jupyter-runtime PYTHONHASHSEED=0

.PHONY: install lab test lint unit-test notebook-test demo notebooks weights clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) notebooks/00_course_home.ipynb

test: install lint
	mkdir -p $(TMP_HOME)
	$(TEST_ENV) $(BIN)/python -m pytest tests $(NOTEBOOKS) \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# the code style is checked, not only suggested: a formatting drift fails the tests
lint: install
	$(BIN)/ruff check ldm_teach tests benchmarks
	$(BIN)/ruff format --check ldm_teach tests benchmarks

unit-test: install
	$(TEST_ENV) $(BIN)/python -m pytest tests -p no:cacheprovider

notebook-test: install
	mkdir -p $(TMP_HOME)
	$(TEST_ENV) $(BIN)/python -m pytest $(NOTEBOOKS) --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=300 --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-p no:cacheprovider

demo: install
	$(BIN)/ldm-teach demo --out outputs/demo_digits.png --overwrite

notebooks: install
	mkdir -p $(TMP_HOME)
	$(TEST_ENV) $(BIN)/ldm-teach run-notebooks $(NOTEBOOKS)

weights: install
	for name in $(WEIGHTS); do $(BIN)/ldm-teach train $$name --overwrite || exit 1; done

clean:
	rm -rf $(TMP_HOME) .pytest_cache outputs
