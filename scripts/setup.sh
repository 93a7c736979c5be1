#!/usr/bin/env bash
# Sets up .venv with the suite and its test tools. Idempotent: safe to run again.
#   bash scripts/setup.sh              the package and its dev extra (tests, notebook)
#   bash scripts/setup.sh --with-ray   also the ray extra (Ray Tune backend and its tests)
# torch comes first as the CPU build (torch==2.13.0) when no torch is installed, so that the
# project's own dependency on torch never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="dev"
for arg in "$@"; do
    case "$arg" in
        --with-ray) EXTRAS="dev,ray" ;;
        *) echo "setup: unknown option $arg (use --with-ray)" >&2; exit 2 ;;
    esac
done
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "setup: installing torch (CPU build)"
    "${PIP[@]}" install "torch==2.13.0"
fi
echo "setup: installing the inr package with extras [$EXTRAS]"
"${PIP[@]}" install -e ".[$EXTRAS]" > .venv/install.log 2>&1 || { tail -n 30 .venv/install.log; exit 1; }
.venv/bin/python -c "import inr, torch; print(f'setup: ready (torch {torch.__version__}, cuda={torch.cuda.is_available()})')"
