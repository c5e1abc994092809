# Two commands for a fresh machine (see README):
#   make demo   set up .venv, then run the whole pipeline on the embedded demo dataset
#   make test   set up .venv, then run the test suite
# `make setup` alone installs; it reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# transkun (an AMT backend) needs torchaudio, which does not load beside the main torch:
# it gets an environment of its own (envs/transkun.txt, about 7 GB), built only when used:
# `make transkun-env`, the pipeline's rule transkun_env (configs with that backend) and the
# transkun tests build it; `make setup` and `make demo` do not.
TRANSKUN_VENV := .venv-transkun
TRANSKUN_STAMP := $(TRANSKUN_VENV)/.installed
CORES ?= 2

# Debian packages: FluidSynth and a General MIDI piano SoundFont, for rendered audio.
SYSTEM_PACKAGES := fluidsynth fluid-soundfont-gm
SOUNDFONT := /usr/share/sounds/sf2/FluidR3_GM.sf2

# Debian packages for the cluster test (tests/test_slurm_cluster.py): a one-node SLURM.
SLURM_PACKAGES := slurm-wlm munge

.PHONY: setup system slurm transkun-env demo test lint report clean-results

system:
	@if command -v fluidsynth >/dev/null && [ -f $(SOUNDFONT) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "note: install $(SYSTEM_PACKAGES) for rendered audio; tests that need them will be skipped"; fi

slurm:
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SLURM_PACKAGES) >/dev/null; \
	else echo "note: install $(SLURM_PACKAGES) for the SLURM cluster test; it will be skipped"; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject: the CPU wheel here; GPU users install a CUDA
	# build of the same version first (README, "GPU").
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# basic-pitch's wheel requires tensorflow on Linux, which breaks numpy/pandas: install it
	# alone; its ONNX model ships inside the wheel and runs on onnxruntime (in pyproject).
	$(BIN)/python -m pip install --quiet --no-deps basic-pitch==0.4.0
	# yt-dlp needs an ffmpeg on PATH: link the binary shipped by imageio-ffmpeg.
	ln -sf "$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" $(BIN)/ffmpeg
	# Compile librosa's numba functions once, in one process, and publish the cache that every
	# later process copies (merflow.core.numba_cache: no two processes write one cache folder).
	$(BIN)/python -m merflow.core.numba_cache
	touch $(STAMP)

$(TRANSKUN_STAMP): envs/transkun.txt
	$(PYTHON) -m venv $(TRANSKUN_VENV)
	$(TRANSKUN_VENV)/bin/python -m pip install --quiet -r envs/transkun.txt
	touch $(TRANSKUN_STAMP)

transkun-env: $(TRANSKUN_STAMP)

setup: system $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --report report.html

test: setup slurm
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check workflow
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile config/demo.yaml

report: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --report report.html

clean-results:
	rm -rf results resources logs .snakemake
