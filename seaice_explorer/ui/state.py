"""Dashboard state and actions: ``param.Parameterized``, no Panel import, tested in plain pytest.

:class:`ExplorerState` holds the settings (backends, variable, n, sampler, steps, seed, physical
bounds, reference), runs generation off the UI thread through an injected executor, keeps the
results in a :class:`ByteLRU` (shared by all sessions of a server), and turns every failure
into a ``message`` without losing the results already shown. The generate function and the
reference loader are injected, so tests run with fakes (dependency injection).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, NamedTuple

import numpy as np
import param
import xarray as xr

from ..variables import STATE_VARIABLES
from . import analysis

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("dm", "ldm-gaussian", "ldm-censored")
SAMPLERS: tuple[str, ...] = ("heun", "euler", "ddim")
BOUNDS_CHOICES: tuple[str, ...] = ("none", "clip", "censored")
#: The bounds each backend can apply (issue 3): censoring needs the censored decoder.
VALID_BOUNDS: Mapping[str, tuple[str, ...]] = {
    "dm": ("none", "clip"),
    "ldm-gaussian": ("none", "clip"),
    "ldm-censored": ("none", "clip", "censored"),
}
DEFAULT_CACHE_BYTES = 1 << 30  # 1 GiB of generated results per server


# --------------------------------------------------------------------------- bounds rule
def effective_bounds(backend: str, requested: str) -> str:
    """The bounds a backend actually applies when ``requested`` is asked for.

    Rule: a backend applies the requested mode when it can; ``censored`` on a backend without
    the censored decoder (``dm``, ``ldm-gaussian``) falls back to ``clip``, the projection
    onto the same bounds.
    """
    if backend not in VALID_BOUNDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if requested not in BOUNDS_CHOICES:
        raise ValueError(f"unknown bounds {requested!r}; use one of {', '.join(BOUNDS_CHOICES)}")
    return requested if requested in VALID_BOUNDS[backend] else "clip"


def bounds_rule(backends: Sequence[str], requested: str) -> list[tuple[str, str, bool]]:
    """(backend, applied bounds, fell back?) for each selected backend."""
    return [(b, effective_bounds(b, requested), effective_bounds(b, requested) != requested) for b in backends]


# --------------------------------------------------------------------------- LRU by bytes
def approx_nbytes(obj: object) -> int:
    """Memory held by a result: arrays, Datasets, mappings, sequences and dataclasses of them."""
    if obj is None:
        return 0
    if isinstance(obj, (xr.Dataset, xr.DataArray)):
        return int(obj.nbytes)
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, Mapping):
        return sum(approx_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(approx_nbytes(v) for v in obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return sum(approx_nbytes(getattr(obj, f.name)) for f in fields(obj))
    return 64


class ByteLRU:
    """A thread-safe least-recently-used cache bounded by the bytes of its values.

    ``put`` evicts the least recently used entries until the new value fits; a value larger
    than the whole budget is not stored (and evicts nothing).
    """

    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        self.budget_bytes = int(budget_bytes)
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: object = None) -> object:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: object, nbytes: int | None = None) -> bool:
        """Store ``value``; returns False when it alone exceeds the budget."""
        size = approx_nbytes(value) if nbytes is None else int(nbytes)
        with self._lock:
            if key in self._items:
                del self._items[key]
            if size > self.budget_bytes:
                log.info("result of %d bytes exceeds the cache budget of %d bytes; not cached", size, self.budget_bytes)
                return False
            while self._items and self._nbytes() + size > self.budget_bytes:
                old, _ = self._items.popitem(last=False)
                log.debug("evicted %s", old)
            self._items[key] = (value, size)
            return True

    def _nbytes(self) -> int:
        return sum(size for _, size in self._items.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes()

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class GenerationKey(NamedTuple):
    """What identifies a generated ensemble (and its statistics against a reference)."""

    backend: str
    n: int
    steps: int
    sampler: str
    seed: int
    bounds: str  # the bounds the backend applies (after the fallback rule)
    reference: str


class _Cancelled(Exception):
    """Raised from the sampler callback to stop a generation (the generate API propagates it)."""


@dataclass
class Job:
    """One generation request, shared between the worker thread and the UI thread.

    The worker writes ``done_steps``/``phase``/``results``/``error``; the UI thread reads them
    in :meth:`ExplorerState.poll`. Plain attribute writes are atomic in CPython.
    """

    plan: list[GenerationKey]
    steps_per_backend: int
    kind: str = "ensemble"  # or "trajectory" (one sample with its denoising path)
    results: dict[str, analysis.Result] = field(default_factory=dict)
    trajectory: analysis.Trajectory | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done_steps: int = 0
    phase: str = "queued"
    error: str | None = None
    finished: bool = False
    cancelled: bool = False
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @property
    def total_steps(self) -> int:
        return max(1, len(self.plan) * self.steps_per_backend)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_steps / self.total_steps)


GenerateFn = Callable[..., Any]
ReferenceLoader = Callable[[str], "analysis.ReferenceData"]


def _default_generate(*args: Any, **kwargs: Any) -> Any:
    from ..diffusion.generate import generate  # torch loads on first use only

    return generate(*args, **kwargs)


class ExplorerState(param.Parameterized):
    """Settings, results and actions of one dashboard session (Finn et al. 2024 comparison)."""

    # ---- generation settings (sidebar; seed, backends and variable travel in the URL)
    backends = param.ListSelector(default=["ldm-gaussian", "ldm-censored"], objects=list(BACKENDS),
                                  doc="Backends to compare side by side: data-space (dm) or latent diffusion.")
    variable = param.Selector(default="sic", objects=list(STATE_VARIABLES), doc="Variable shown on the maps.")
    n = param.Integer(default=8, bounds=(1, 64), doc="Number of samples per backend (ensemble size).")
    sampler = param.Selector(default="heun", objects=list(SAMPLERS), doc="ODE sampler (Heun is the paper's).")
    steps = param.Integer(default=20, bounds=(2, 200), doc="Sampler steps (Heun: 2·steps − 1 network calls).")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Random seed: the same seed gives the same states.")
    bounds = param.Selector(default="censored", objects=list(BOUNDS_CHOICES),
                            doc="Physical bounds: none (raw), clip (project onto bounds), censored (censored decoder).")
    reference = param.Selector(default="default", objects=["default"],
                               doc="Reference data set (configured on the server, never a path from the browser).")

    # ---- view settings
    member = param.Integer(default=0, bounds=(0, 63), doc="Ensemble member shown on the maps.")
    summary = param.Selector(default="member", objects=["member", "mean", "spread"],
                             doc="Show one member, the ensemble mean or the ensemble spread (std).")
    show_miz = param.Boolean(default=True, doc="Overlay the MIZ contours (sic 0.15 and 0.80).")
    ref_index = param.Integer(default=0, bounds=(0, None), doc="Reference state (time index) on the maps.")
    denoise_backend = param.Selector(default="ldm-censored", objects=list(BACKENDS), doc="Backend to watch denoising.")
    denoise_step = param.Integer(default=0, bounds=(0, None), doc="Sampler step shown in the denoising replay.")

    # ---- outputs (read-only for the views)
    results = param.Dict(default={}, precedence=-1, doc="backend -> analysis.Result of the shown generation.")
    reference_data = param.Parameter(default=None, precedence=-1, doc="analysis.ReferenceData in use.")
    trajectory = param.Parameter(default=None, precedence=-1, doc="analysis.Trajectory of the denoising replay.")
    running = param.Boolean(default=False, precedence=-1)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), precedence=-1)
    status = param.String(default="", precedence=-1)
    message = param.String(default="", precedence=-1)
    message_level = param.Selector(default="info", objects=["info", "success", "warning", "error"], precedence=-1)
    message_serial = param.Integer(default=0, precedence=-1, doc="Bumped on every message (notify even if repeated).")
    stale = param.Boolean(default=False, precedence=-1, doc="Settings differ from the results shown.")

    def __init__(self, *, generate_fn: GenerateFn | None = None, reference_loader: ReferenceLoader | None = None,
                 sources: Mapping[str, str] | None = None, cache: ByteLRU | None = None,
                 executor: Executor | None = None, device: str = "auto", auto_regenerate: bool = True,
                 **params: Any) -> None:
        sources = dict(sources or {"default": "default"})
        self.param.reference.objects = list(sources)
        params.setdefault("reference", next(iter(sources)))
        super().__init__(**params)
        self.generate_fn: GenerateFn = generate_fn or _default_generate
        self.reference_loader: ReferenceLoader = reference_loader or analysis.load_reference
        self.sources = sources
        self.cache = cache if cache is not None else ByteLRU()
        self.executor = executor
        self.device = device
        self.auto_regenerate = auto_regenerate
        self._job: Job | None = None
        self._shown: tuple | None = None
        self._loading: tuple[str, Future] | None = None  # (reference name, pending load)
        self._pending_generate = False  # Generate was pressed while the reference was loading

    # ------------------------------------------------------------------ messages
    def notify(self, text: str, level: str = "info") -> None:
        """Record a message for the view to show as a notification."""
        log.log(logging.ERROR if level == "error" else logging.INFO, "%s", text)
        self.param.update(message=text, message_level=level, message_serial=self.message_serial + 1)

    # ------------------------------------------------------------------ reference
    def load_reference(self) -> bool:
        """Load the selected reference (via the injected loader); keep the old one on failure."""
        spec = self.sources[self.reference]
        try:
            data = self.reference_loader(spec)
        except Exception as err:  # noqa: BLE001 - any failure becomes a message, never a crash
            self.notify(f"Could not load the reference {self.reference!r}: {err}", "error")
            return False
        self.param.update(reference_data=data, ref_index=min(self.ref_index, max(data.n_states - 1, 0)))
        return True

    @param.depends("reference", watch=True)
    def _on_reference(self) -> None:
        """A new reference was chosen: load it off the UI thread when there is an executor."""
        if self.executor is None:
            self._reference_loaded(self.load_reference())
            return
        self.status = f"loading the reference {self.reference}…"
        self._loading = (self.reference, self.executor.submit(self.reference_loader, self.sources[self.reference]))

    def _poll_reference(self) -> None:
        name, future = self._loading  # type: ignore[misc]
        if not future.done():
            return
        self._loading = None
        try:
            data = future.result()
        except Exception as err:  # noqa: BLE001 - reported in the page
            self.notify(f"Could not load the reference {name!r}: {err}", "error")
            self._reference_loaded(False)
            return
        if name == self.reference:  # ignore a load overtaken by another choice
            self.param.update(reference_data=data, ref_index=min(self.ref_index, max(data.n_states - 1, 0)),
                              status=f"reference {name} loaded")
            self._reference_loaded(True)

    def _reference_loaded(self, ok: bool) -> None:
        if ok and (self.results or self._pending_generate) and self.auto_regenerate:
            self._pending_generate = False
            self.generate()  # scores are against the reference: recompute (cached samples are reused)

    # ------------------------------------------------------------------ generation
    def settings(self) -> tuple:
        """The settings that determine the results (for the ``stale`` flag)."""
        return (tuple(self.backends), self.n, self.steps, self.sampler, self.seed, self.bounds, self.reference)

    def plan(self) -> list[GenerationKey]:
        """One cache key per selected backend, with the bounds rule applied."""
        return [GenerationKey(b, self.n, self.steps, self.sampler, self.seed, effective_bounds(b, self.bounds),
                              self.reference) for b in self.backends]

    @param.depends("backends", "n", "steps", "sampler", "seed", "bounds", "reference", watch=True)
    def _on_settings(self) -> None:
        self.stale = bool(self.results) and self.settings() != self._shown

    @param.depends("bounds", watch=True)
    def _on_bounds(self) -> None:
        if self.results and self.auto_regenerate:
            self.generate()  # the bounds toggle is live: its effect shows at once

    def new_seed(self) -> None:
        """Draw a new seed (deterministic sequence from the current one)."""
        self.seed = random.Random(self.seed).randrange(0, 2**31 - 1)

    def _busy(self) -> bool:
        if self._job is not None and not self._job.finished:
            self.notify("A generation is already running; cancel it or wait.", "warning")
            return True
        if self._loading is not None:  # results are scored against the reference being loaded
            self._pending_generate = True
            self.notify("The reference is still loading; generation starts once it is ready.", "info")
            return True
        return False

    def _start(self, job: Job, worker: Callable[..., None], *args: Any) -> Job:
        """Run ``worker(job, *args)`` on the executor (inline without one, or when nothing is left
        to compute); :meth:`poll` applies the outcome on the UI thread."""
        self._job = job
        self.param.update(running=True, progress=job.fraction, status="starting…")
        if self.executor is None or job.done_steps >= job.total_steps:
            worker(job, *args)
            self.poll()
        else:
            self.executor.submit(worker, job, *args)
        return job

    def generate(self) -> Job | None:
        """Start generating for the current settings: cached backends come back at once, the rest
        run on the executor (or inline without one). Returns the job, None when refused."""
        if self._busy():
            return None
        if not self.backends:
            self.notify("Select at least one backend.", "warning")
            return None
        if self.reference_data is None and not self.load_reference():
            return None
        job = Job(plan=self.plan(), steps_per_backend=self.steps)
        for key in job.plan:
            hit = self.cache.get(key)
            if hit is not None:
                job.results[key.backend] = hit  # type: ignore[assignment]
                job.done_steps += job.steps_per_backend
        return self._start(job, self._work, self.reference_data)

    def cancel(self) -> None:
        """Ask the running generation to stop at its next sampler step."""
        if self._job is not None and not self._job.finished:
            self._job.cancel.set()
            self.status = "cancelling…"

    def _callback(self, job: Job) -> Callable[..., None]:
        def on_step(step: int, sigma: float, x: object, x0_hat: object) -> None:
            if job.cancel.is_set():
                raise _Cancelled()
            job.done_steps += 1

        return on_step

    def _work(self, job: Job, reference: analysis.ReferenceData) -> None:
        """Worker: generate what is not cached, analyse it against the reference, cache it."""
        try:
            for key in job.plan:
                if key.backend in job.results:
                    continue
                job.phase = f"generating {key.backend} ({key.n} × {key.steps} steps)"
                t0 = time.perf_counter()
                samples = self.generate_fn(key.backend, n=key.n, steps=key.steps, seed=key.seed, bounds=key.bounds,
                                           sampler=key.sampler, device=self.device, callback=self._callback(job))
                seconds = time.perf_counter() - t0
                job.phase = f"analysing {key.backend}"
                result = analysis.analyse(samples, reference, key=key, seconds=seconds)
                self.cache.put(key, result)
                job.results[key.backend] = result
        except _Cancelled:
            job.cancelled = True
        except Exception as err:  # noqa: BLE001 - reported in the page, never raised into the server
            log.exception("generation failed")
            job.error = f"Generation failed: {err}"
        finally:
            job.elapsed_s = time.perf_counter() - job.started
            job.finished = True

    def poll(self) -> bool:
        """Apply the running job's progress and, once it is finished, its outcome (UI thread).

        Returns True while a job is still running.
        """
        if self._loading is not None:
            self._poll_reference()
        job = self._job
        if job is None:
            return self._loading is not None
        if not job.finished:
            self.param.update(progress=job.fraction, status=job.phase)
            return True
        self._job = None
        if job.cancelled:
            self.param.update(running=False, progress=0.0, status="cancelled")
            self.notify("Generation cancelled; the previous results are still shown.", "warning")
        elif job.error:
            self.param.update(running=False, progress=0.0, status="failed")
            self.notify(job.error, "error")
        elif job.kind == "trajectory":
            traj = job.trajectory
            self.param.update(trajectory=traj, running=False, progress=1.0,
                              status=f"recorded {traj.backend} in {job.elapsed_s:.1f} s")  # type: ignore[union-attr]
            self.denoise_step = traj.n_steps - 1  # type: ignore[union-attr]
        else:
            self._shown = self.settings()
            self.param.update(results={k.backend: job.results[k.backend] for k in job.plan}, running=False,
                              progress=1.0, stale=False, member=min(self.member, self.n - 1),
                              status=f"done in {job.elapsed_s:.1f} s (seed {job.plan[0].seed})")
        return False

    # ------------------------------------------------------------------ denoising replay
    def record_trajectory(self) -> Job | None:
        """Generate one sample of ``denoise_backend`` with its denoising path (cached), off the UI
        thread like :meth:`generate`; :meth:`poll` then shows it from its last step."""
        if self._busy():
            return None
        backend = self.denoise_backend
        key = GenerationKey(backend, 1, self.steps, self.sampler, self.seed, effective_bounds(backend, self.bounds),
                            "trajectory")
        job = Job(plan=[key], steps_per_backend=self.steps, kind="trajectory")
        job.trajectory = self.cache.get(key)  # type: ignore[assignment]
        if job.trajectory is not None:
            job.done_steps = job.total_steps
        return self._start(job, self._work_trajectory)

    def _work_trajectory(self, job: Job) -> None:
        """Worker: one sample with ``return_trajectory=True``, cached."""
        key = job.plan[0]
        try:
            if job.trajectory is None:
                job.phase = f"recording {key.backend} ({key.steps} steps)"
                samples, steps = self.generate_fn(key.backend, n=1, steps=key.steps, seed=key.seed, bounds=key.bounds,
                                                  sampler=key.sampler, device=self.device,
                                                  callback=self._callback(job), return_trajectory=True)
                job.trajectory = analysis.Trajectory.from_generated(key.backend, samples, steps)
                self.cache.put(key, job.trajectory)
        except _Cancelled:
            job.cancelled = True
        except Exception as err:  # noqa: BLE001 - reported in the page
            log.exception("recording the trajectory failed")
            job.error = f"Could not record the denoising of {key.backend}: {err}"
        finally:
            job.elapsed_s = time.perf_counter() - job.started
            job.finished = True

    # ------------------------------------------------------------------ derived, for the views
    def violation_summary(self) -> dict[str, float]:
        """Fraction of bounded ocean values beyond their bounds, per shown backend."""
        return {b: r.beyond_fraction for b, r in self.results.items()}

    def applied_bounds(self) -> dict[str, str]:
        """The bounds each shown result was generated with."""
        return {b: r.key.bounds for b, r in self.results.items()}


def format_fraction(value: float) -> str:
    """A fraction as a percentage with sensible precision (``0 %`` exactly when zero)."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0 %"
    pct = 100 * value
    return f"{pct:.2f} %" if pct >= 0.01 else "< 0.01 %"
