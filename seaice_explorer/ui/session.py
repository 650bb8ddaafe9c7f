"""Per-server resources and per-session wiring of the dashboard (Panel).

Once per server (``pn.state.as_cached``): the registry of the models directory, the results
cache, the generation service (:class:`~.service.GenerationService`: its queue, its workers, and
its stop when the server stops), the reference summaries and the warm-up. Once per page:
:func:`page_queue` (the page's turn at the service) and :func:`connect_session` (first load,
notifications, results pushed to the page, cancel and forget on close).

A Generate click: the page's state makes a :class:`~.jobs.Job` and submits it through its queue;
a worker runs it in the page's turn (round robin over pages), calling the job's listener as it
moves on; the listener schedules :meth:`ExplorerState.poll` on the page's own thread
(``doc.add_next_tick_callback``), which shows the progress and, at the end, the results.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import threading
import time

import holoviews as hv
import numpy as np
import panel as pn
import param

from ..configs import resolve_models_dir
from ..errors import SeaIceInputError
from ..recipe import QUICK
from ..registry import Registry, discover
from ..runtime import release_memory
from .model import analysis
from .model.jobs import ResultCache, SessionQueue, default_generate
from .model.service import GenerationService
from .model.state import ExplorerState

log = logging.getLogger(__name__)

#: Worker threads of the service (a 2-core machine: one generation per core), and the seconds the
#: server waits for them when it stops (``SIGTERM`` exits within 5 s).
WORKERS, STOP_TIMEOUT_S = 2, 3.0
SERVER = "server"  # the service's queue for the server's own work (warm-up, the tour's preparation)
RELEASE_AFTER_S = 15.0  # after a page closes: collect and return the freed heap to the OS


def load_registry(models_dir: str | os.PathLike | None = None) -> Registry:
    """The backends of ``models_dir``; a missing folder gives an empty registry that says why."""
    try:
        return discover(models_dir)
    except SeaIceInputError as err:
        root = resolve_models_dir(models_dir)
        log.warning("no models: %s", err)
        return Registry(root, {}, {str(root): f"{err.problem}. {err.fix}"})


def shared_registry(models_dir: str | os.PathLike | None = None) -> Registry:
    """The registry, discovered once per server and models directory."""
    root = resolve_models_dir(models_dir).expanduser().resolve()
    return pn.state.as_cached(f"seaice-explorer:registry:{root}", lambda: load_registry(root))


def shared_cache(budget_mb: int = 256) -> ResultCache:
    """The results cache shared by every session of this server."""
    return pn.state.as_cached("seaice-explorer:results", lambda: ResultCache(budget_mb << 20))


def _stop(service: GenerationService) -> None:
    """At exit: cancel every job and stop the workers (a sampler stops at its next step), then leave
    at once: a step that cannot be cancelled (a checkpoint loading) and the interpreter's slow
    clean-up of a big heap (torch, the caches) must not hold a stopping server past a few seconds."""
    if not service.shutdown(STOP_TIMEOUT_S):
        log.warning("a worker did not stop within %.0f s; exiting without it", STOP_TIMEOUT_S)
    logging.shutdown()
    os._exit(0)


def shared_service() -> GenerationService:
    """The server's generation service: every page's work, the warm-up and the tour's preparation."""
    def make() -> GenerationService:
        service = GenerationService(workers=WORKERS)
        if pn.state.curdoc is not None:  # a server (not a test or a notebook): it stops with the process
            atexit.register(_stop, service)
        return service

    return pn.state.as_cached("seaice-explorer:service", make)


def server_queue() -> SessionQueue:
    """The server's own turn at the service (the warm-up, the tour's preparation)."""
    return SessionQueue(shared_service(), SERVER)


def page_queue() -> SessionQueue:
    """This page's turn at the server's service (the server's own turn outside a page)."""
    doc = pn.state.curdoc
    context = doc.session_context if doc is not None else None
    return SessionQueue(shared_service(), context.id if context is not None else SERVER)


@pn.cache(max_items=4)
def cached_reference(spec: str, grid: str | None = None) -> analysis.ReferenceData:
    """A reference and its summaries, loaded once per server and (spec, grid); the loading's
    temporaries go back to the OS (the heap keeps its peak otherwise, see :mod:`runtime`)."""
    reference = analysis.load_reference(spec, grid=grid)
    release_memory()
    return reference


def warm_up(registry: Registry, device: str = "auto") -> float:
    """Compile Datashader's kernels (numba), load the checkpoints and run each backend of the
    registry once (one sample, two steps); returns the seconds taken."""
    from holoviews.operation.datashader import rasterize

    t0 = time.perf_counter()
    x = np.linspace(0.0, 1.0, 8)  # float64 coordinates and float32 values, as the maps use
    z = np.outer(x, x).astype(np.float32)
    z[0, 0] = np.nan
    for element in (hv.Image((x, x, z)), hv.Image((x, x[::-1], z))):
        rasterize(element, dynamic=False, width=16, height=16, x_range=(0, 1), y_range=(0, 1))
        rasterize(element, dynamic=False, width=16, height=16)
    for name in registry.names:
        try:
            default_generate(name, QUICK.replace(n=1, steps=2), device=device, models_dir=registry.models_dir)
        except Exception as err:  # noqa: BLE001 - a broken backend is reported when it is used
            log.warning("warm-up could not run %s: %s", name, err)
    seconds = time.perf_counter() - t0
    log.info("warm-up done in %.1f s", seconds)
    return seconds


def start_warm_up(registry: Registry, device: str = "auto") -> None:
    """Run :func:`warm_up` once per server, in the background (the page does not wait for it)."""
    pn.state.as_cached(f"seaice-explorer:warm-up:{registry.models_dir}",
                       lambda: server_queue().submit(warm_up, registry, device))


def connect_session(state: ExplorerState, *, autogenerate: bool = True) -> None:
    """Per-page plumbing: first load, notifications, results pushed to the page, cancel on close.

    The reference (cached per server) and cached results are applied before the page first
    renders, so a warm server shows its maps at once. Does nothing outside a server (tests); in
    ``panel serve --warm`` start-up runs it only warms the caches.
    """
    doc = pn.state.curdoc
    if doc is None:
        return
    if doc.session_context is not None:
        def push() -> None:  # from a worker: the page polls on its own turn
            try:
                doc.add_next_tick_callback(state.poll)
            except Exception:  # noqa: BLE001 - the page closed meanwhile: nothing to tell
                log.debug("a job ended after its page closed")

        state.push = push
    start_warm_up(state.registry, state.device)
    if state.load_reference() and autogenerate and state.backends:
        state.generate()
    if doc.session_context is None:
        return
    notifications = pn.state.notifications

    def notify(event: param.parameterized.Event) -> None:
        if notifications is not None and state.message:
            duration = 0 if state.message_level == "error" else 5000
            getattr(notifications, state.message_level)(state.message, duration=duration)

    state.param.watch(notify, ["message_serial"])

    page = doc.session_context.id

    def closed(context: object) -> None:  # a closed page stops its job and leaves nothing in the service
        state.push = None
        state.cancel()
        shared_service().forget(page)
        # once Panel has dropped the page (it collects a few seconds later), give its memory back to the OS
        timer = threading.Timer(RELEASE_AFTER_S, lambda: (gc.collect(), release_memory()))
        timer.daemon = True
        timer.start()

    pn.state.on_session_destroyed(closed)
