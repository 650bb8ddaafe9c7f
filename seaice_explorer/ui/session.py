"""Per-server resources and per-session wiring of the dashboard (Panel).

Once per server (``pn.state.as_cached``): the registry of the models directory, the results
cache, the worker threads, the reference summaries, the warm-up and the guided tour's results
(:class:`~.tour.Bank`). Once per session: :func:`connect_session` (first load, notifications,
polling of the worker, cancel on close).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from ..configs import resolve_models_dir
from ..errors import SeaIceInputError
from ..registry import Registry, discover
from ..runtime import release_memory
from . import analysis
from .jobs import ResultCache, default_generate
from .state import ExplorerState
from .tour import Bank, Tour

log = logging.getLogger(__name__)


def in_server() -> bool:
    """True inside a served page's session (background callbacks need one); False in a notebook or a test."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def ticker(callback: Callable[[], object], period_ms: int) -> PeriodicCallback:
    """Run ``callback`` every ``period_ms`` in this session, without flagging the page busy.

    ``pn.state.add_periodic_callback`` counts every tick as busy work, and Panel's busy flag drives
    the spinner of every open page's template: a 200 ms poll then costs two messages to each page
    per tick and keeps the server's event loop and the browsers from the tour's steps. The
    dashboard's ticks only poll, so they are background callbacks (stopped with their document).
    """
    cb = PeriodicCallback(callback=callback, period=period_ms, background=True, log=False)
    cb.start()
    return cb


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


def shared_executor() -> ThreadPoolExecutor:
    """Worker threads shared by every session: generation never runs on the UI thread."""
    return pn.state.as_cached("seaice-explorer:executor",
                              lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="seaice-generate"))


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
            default_generate(name, n=1, steps=2, seed=0, device=device, models_dir=registry.models_dir)
        except Exception as err:  # noqa: BLE001 - a broken backend is reported when it is used
            log.warning("warm-up could not run %s: %s", name, err)
    seconds = time.perf_counter() - t0
    log.info("warm-up done in %.1f s", seconds)
    return seconds


def start_warm_up(registry: Registry, device: str = "auto") -> None:
    """Run :func:`warm_up` once per server, in the background (the page does not wait for it)."""
    pn.state.as_cached(f"seaice-explorer:warm-up:{registry.models_dir}",
                       lambda: shared_executor().submit(warm_up, registry, device))


def shared_tour_bank(registry: Registry) -> Bank:
    """The guided tour's results, computed once per server and models directory."""
    return pn.state.as_cached(f"seaice-explorer:tour:{registry.models_dir}", Bank)


def connect_session(state: ExplorerState, *, autogenerate: bool = True, poll_ms: int = 200,
                    tour: Tour | None = None) -> None:
    """Per-session plumbing: first load, notifications and polling of the worker.

    The reference (cached per server) and cached results are applied before the page first
    renders, so a warm server shows its maps at once. With ``autogenerate`` the guided tour's
    results are computed once per server after the warm-up (otherwise when the tour is first
    opened). Does nothing outside a server (tests); in ``panel serve --warm`` start-up runs it
    only warms the caches.
    """
    doc = pn.state.curdoc
    if doc is None:
        return
    start_warm_up(state.registry, state.device)
    if state.load_reference() and autogenerate and state.backends:
        state.generate()
    if autogenerate and tour is not None:
        tour.prepare()  # queued behind the warm-up and the first page's generation
    if doc.session_context is None:
        return
    notifications = pn.state.notifications

    def notify(event: param.parameterized.Event) -> None:
        if notifications is not None and state.message:
            duration = 0 if state.message_level == "error" else 5000
            getattr(notifications, state.message_level)(state.message, duration=duration)

    state.param.watch(notify, ["message_serial"])
    ticker(state.poll, poll_ms)
    pn.state.on_session_destroyed(lambda context: state.cancel())  # a closed page stops its job
