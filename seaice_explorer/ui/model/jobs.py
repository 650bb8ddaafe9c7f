"""Generation jobs of the dashboard: the cache key, the job shared with the worker thread, the
worker itself (generate, analyse, cache) and the results cache shared by a server's sessions.

No Panel. The generation function is injected (typed by :class:`GenerateFn`), so tests run with
fakes; the default imports :func:`seaice_explorer.diffusion.generate.generate` on first use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Protocol

import numpy as np
import xarray as xr
from cachetools import LRUCache

from ...recipe import CacheKey, Recipe
from ...runtime import release_memory
from ...trajectory import Trajectory
from . import analysis
from .service import Cancelled, GenerationService, Ticket

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 1 << 30  # 1 GiB of generated results per server
PUSH_INTERVAL_S = 0.2  # the most often a job tells its page of its progress


#: What identifies a generated ensemble (and its statistics against a reference): built only by
#: :func:`seaice_explorer.recipe.cache_key`.
GenerationKey = CacheKey


StepCallback = Callable[[Mapping[str, Any]], None]  # {"i", "sigma", "x", "denoised"}; raising cancels


class GenerateFn(Protocol):
    """The part of :func:`seaice_explorer.diffusion.generate.generate` the dashboard calls.

    Returns the samples (a canonical Dataset with dim ``sample``), or ``(samples, trajectory)``
    with ``return_trajectory=True``.
    """

    def __call__(self, backend: str, recipe: Recipe, *, device: str = "auto", callback: StepCallback | None = None,
                 models_dir: str | os.PathLike | None = None, return_trajectory: bool = False) -> Any: ...


def default_generate(backend: str, recipe: Recipe, *, device: str = "auto", callback: StepCallback | None = None,
                     models_dir: str | os.PathLike | None = None, return_trajectory: bool = False) -> Any:
    # The one package module imported lazily by the UI: it loads torch, and the page starts without it.
    from ...diffusion.generate import generate

    return generate(backend, recipe, device=device, callback=callback, models_dir=models_dir,
                    return_trajectory=return_trajectory)


# --------------------------------------------------------------------------- results cache
def approx_nbytes(obj: object) -> int:
    """Memory held by a result: arrays, Datasets, mappings, sequences and dataclasses of them."""
    if obj is None:
        return 0
    if isinstance(obj, (xr.Dataset, xr.DataArray, np.ndarray)):
        return int(obj.nbytes)
    if isinstance(obj, Mapping):
        return sum(approx_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(approx_nbytes(v) for v in obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return sum(approx_nbytes(getattr(obj, f.name)) for f in fields(obj))
    return 64


class ResultCache:
    """``cachetools.LRUCache`` bounded by the bytes of its values, behind a lock (worker threads and
    sessions share it). A value larger than the whole budget is not stored."""

    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        self.lru: LRUCache = LRUCache(maxsize=int(budget_bytes), getsizeof=approx_nbytes)
        self.lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self.lock:
            return self.lru.get(key, default)

    def put(self, key: Hashable, value: object) -> bool:
        """Store ``value`` (evicting the least recently used); False when it alone exceeds the budget."""
        with self.lock:
            self.lru.pop(key, None)
            try:
                self.lru[key] = value
            except ValueError:  # cachetools: "value too large"
                log.info("a result of %d bytes exceeds the cache budget of %d bytes; not cached",
                         approx_nbytes(value), self.lru.maxsize)
                return False
            return True

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self.lock:
            return list(self.lru)

    @property
    def nbytes(self) -> int:
        with self.lock:
            return int(self.lru.currsize)

    def __contains__(self, key: Hashable) -> bool:
        with self.lock:
            return key in self.lru

    def __len__(self) -> int:
        with self.lock:
            return len(self.lru)


# --------------------------------------------------------------------------- jobs and the worker
@dataclass
class Job:
    """One generation request, shared between the worker thread and the UI thread.

    The worker writes ``done_steps``/``phase``/``results``/``error`` and calls ``listener`` (at most
    every :data:`PUSH_INTERVAL_S`, and once when it ends): the page then reads them on its own thread.
    """

    plan: list[GenerationKey]
    steps_per_backend: int
    kind: str = "ensemble"  # or "trajectory" (one sample with its denoising path)
    results: dict[str, analysis.Result] = field(default_factory=dict)
    trajectory: Trajectory | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done_steps: int = 0
    phase: str = "queued"
    error: str | None = None
    finished: bool = False
    cancelled: bool = False
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0
    listener: Callable[[], None] | None = field(default=None, repr=False)  # pushes progress to the page
    _pushed: float = field(default=0.0, repr=False)

    @property
    def total_steps(self) -> int:
        return max(1, len(self.plan) * self.steps_per_backend)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_steps / self.total_steps)

    def on_step(self, info: Mapping[str, Any]) -> None:
        """The sampler callback: counts steps, stops the sampler once cancel is set."""
        if self.cancel.is_set():
            raise Cancelled()
        self.done_steps += 1
        self.push()

    def push(self, force: bool = False) -> None:
        """Tell the page (``listener``) that the job moved on: throttled, unless ``force``."""
        now = time.perf_counter()
        if self.listener is not None and (force or now - self._pushed >= PUSH_INTERVAL_S):
            self._pushed = now
            self.listener()


@contextmanager
def outcome(job: Job, failure: str) -> Iterator[None]:
    """Record how the worker ended: cancelled, failed (``failure: error``) or done."""
    try:
        yield
    except Cancelled:
        job.cancelled = True
    except Exception as err:  # noqa: BLE001 - reported in the page, never raised into the server
        log.exception("%s", failure)
        job.error = f"{failure}: {err}"
    finally:
        job.elapsed_s = time.perf_counter() - job.started
        job.finished = True
        job.push(force=True)


@dataclass
class Runner:
    """Runs jobs (on a worker thread): generates what the cache lacks, analyses it, caches it."""

    generate_fn: GenerateFn = default_generate
    cache: ResultCache = field(default_factory=ResultCache)
    device: str = "auto"
    models_dir: str | os.PathLike | None = None

    def _generate(self, job: Job, key: GenerationKey, **kw: Any) -> Any:
        return self.generate_fn(key.backend, key.recipe, device=self.device, callback=job.on_step,
                                models_dir=self.models_dir, **kw)

    def ensemble(self, job: Job, reference: analysis.ReferenceData) -> None:
        with outcome(job, "Generation failed"):
            for key in job.plan:
                if key.backend in job.results:
                    continue
                job.phase = f"generating {key.backend} ({key.n} × {key.steps} steps)"
                t0 = time.perf_counter()
                samples = self._generate(job, key)
                job.phase = f"analysing {key.backend}"
                result = analysis.analyse(samples, reference, key=key, seconds=time.perf_counter() - t0)
                self.cache.put(key, result)
                job.results[key.backend] = result
            release_memory()  # the sampler's activations: kept in the heap while sampling, not after

    def trajectory(self, job: Job) -> None:
        key = job.plan[0]
        with outcome(job, f"Could not record the denoising of {key.backend}"):
            if job.trajectory is None:
                job.phase = f"recording {key.backend} ({key.steps} steps)"
                _, replay = self._generate(job, key, return_trajectory=True)
                job.trajectory = replay.select(0)
                self.cache.put(key, job.trajectory)


class SessionQueue:
    """One page's door to the server's :class:`~.service.GenerationService`, used like an executor:
    ``submit(fn, *args)`` returns a future of ``fn(*args)``, run in this page's turn (round robin).

    A :class:`Job` among the arguments shares its ticket's cancel event, so closing the page or
    stopping the server stops it at its next sampler step; a job cancelled before it ran ends as
    cancelled. ``push`` is called (from the worker thread) when the work ends.
    """

    def __init__(self, service: GenerationService, session: Hashable, push: Callable[[], None] | None = None) -> None:
        self.service, self.session, self.push = service, session, push

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        result: Future = Future()
        jobs = [a for a in args if isinstance(a, Job)]

        def done(ticket: Ticket) -> None:
            for job in jobs:
                if not job.finished:  # never ran: it ends as cancelled, and its page is told
                    job.cancelled = job.finished = True
                    job.push(force=True)
            if ticket.error:
                result.set_exception(RuntimeError(ticket.error))
            elif ticket.cancelled:
                result.set_exception(Cancelled())
            else:
                result.set_result(ticket.result)
            if self.push is not None:
                self.push()

        ticket = self.service.submit(self.session, lambda t: fn(*args), on_done=done, replace=False,
                                     label=getattr(fn, "__name__", "work"))
        for job in jobs:
            job.cancel = ticket.cancel
        return result

