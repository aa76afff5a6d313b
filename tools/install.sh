#!/usr/bin/env bash
# Create .venv and install the recipe's dependencies without ever pulling an unwanted torch.
#
#   TORCH=auto    (default) keep a torch already in .venv; else CUDA build if `nvidia-smi` works, else CPU build
#   TORCH=cpu     install $TORCH_CPU_SPEC (default torch==2.13.0; pip's find-links supplies the +cpu wheel here,
#                 elsewhere add PIP_TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu")
#   TORCH=cuda    install $TORCH_CUDA_SPEC (default torch==2.13.0, PyPI's Linux wheel is the CUDA build)
#   TORCH=system  make the venv with --system-site-packages and use the torch already installed for python3
#
# After torch is in place, its exact version becomes a pip constraint for everything else, so no
# dependency can replace it.
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-auto}
TORCH_CPU_SPEC=${TORCH_CPU_SPEC:-torch==2.13.0}
TORCH_CUDA_SPEC=${TORCH_CUDA_SPEC:-torch==2.13.0}
PIP_TORCH_ARGS=${PIP_TORCH_ARGS:-}

if [ ! -x "$VENV/bin/python" ]; then
  if [ "$TORCH" = system ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

have_torch() { "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; }

case "$TORCH" in
  auto)
    if have_torch; then
      echo "install: keeping torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
      echo "install: CUDA GPU found, installing $TORCH_CUDA_SPEC"
      "${PIP[@]}" install $PIP_TORCH_ARGS "$TORCH_CUDA_SPEC"
    else
      echo "install: no CUDA GPU, installing CPU $TORCH_CPU_SPEC"
      "${PIP[@]}" install $PIP_TORCH_ARGS "$TORCH_CPU_SPEC"
    fi ;;
  cpu) "${PIP[@]}" install $PIP_TORCH_ARGS "$TORCH_CPU_SPEC" ;;
  cuda) "${PIP[@]}" install $PIP_TORCH_ARGS "$TORCH_CUDA_SPEC" ;;
  system)
    have_torch || { echo "install: TORCH=system but '$PYTHON' has no torch" >&2; exit 1; } ;;
  *) echo "install: TORCH must be auto, cpu, cuda or system (got '$TORCH')" >&2; exit 2 ;;
esac

torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==$torch_version" >"$constraints"
"${PIP[@]}" install -r requirements.txt -c "$constraints"
"$VENV/bin/python" -c 'import torch, transformers, datasets; print(f"install: torch {torch.__version__}, transformers {transformers.__version__}, datasets {datasets.__version__}, cuda={torch.cuda.is_available()}")'
