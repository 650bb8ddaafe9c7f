#!/usr/bin/env bash
# Set up seaice-explorer on a fresh machine: torch (CPU wheel or keep CUDA), the package, test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }

# 1. torch. A machine that already has torch (e.g. a GPU machine with its CUDA build) keeps it.
#    Otherwise take the CPU build: the local wheel torch==2.13.0+cpu when pip can find it,
#    else the CPU-only index, never the default index with its GBs of CUDA packages.
if "$PY" -c "import torch" 2>/dev/null; then
    echo "setup: keeping installed torch $("$PY" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
elif ls /opt/wheels/torch-2.13.0*cpu* >/dev/null 2>&1; then
    pip_install "torch==2.13.0"
else
    pip_install torch --index-url https://download.pytorch.org/whl/cpu
fi

# 2. The package and its test tools (torch>=2.2 is already satisfied, so nothing more is pulled).
pip_install -e ".[test]"

# 3. System packages for the browser test and fast CPU training (Debian, as root; optional).
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    if ! command -v chromium >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libtcmalloc-minimal4) \
            || echo "setup: apt-get failed; browser tests will be skipped"
    fi
fi
echo "setup: done"
