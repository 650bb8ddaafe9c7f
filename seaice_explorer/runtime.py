"""Process set-up: the fast allocator without ``LD_PRELOAD``, configured once per process.

glibc's malloc returns large freed buffers (tensor activations) to the OS and faults them in
again at every sampler step; on the 2-core CPU that made the data-space U-Net about 2.4× slower
than with tcmalloc. Raising glibc's mmap and trim thresholds to 1 GiB (``mallopt``) keeps those
buffers in the heap and gives tcmalloc's speed. The CLI and the app call
:func:`configure_allocator` at start; ``SEAICE_EXPLORER_MALLOC=off`` switches it off.

The price is that the heap keeps its peak: a long-lived process (the app server) calls
:func:`release_memory` after a one-off peak (loading a reference, finishing a generation job), which
hands the free heap back to the OS with glibc's ``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

ENV = "SEAICE_EXPLORER_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
THRESHOLD = 1 << 30  # 1 GiB
_state: dict[str, str] = {}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def configure_allocator() -> str:
    """Apply the allocator setting once per process and log it once; returns what is in effect:
    ``"tcmalloc"`` (preloaded), ``"glibc mallopt"`` (thresholds raised), ``"off"`` (switched off by
    the environment variable) or ``"unavailable"`` (not glibc)."""
    if "mode" not in _state:
        _state["mode"] = _apply()
        log.info("allocator: %s (set %s=off to disable)", _state["mode"], ENV)
    return _state["mode"]


def _apply() -> str:
    if os.environ.get(ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return "off"
    if "tcmalloc" in os.environ.get("LD_PRELOAD", ""):
        return "tcmalloc"
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # not glibc (macOS, musl, Windows): nothing to do
        return "unavailable"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, THRESHOLD) == 1
    return "glibc mallopt" if ok else "unavailable"


def release_memory() -> bool:
    """Return the free heap to the OS (glibc ``malloc_trim(0)``, every arena); False where there is
    no glibc. Cheap (milliseconds); the next large allocation faults its pages in again."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
    trim(0)
    return True
