"""The Observations tab: fill in a day's hidden cells from what was observed (issue 22), no Panel.

:class:`ObservationsState` belongs to one page's :class:`~.state.ExplorerState` and reuses its
registry, data set, reference loader, results cache, page queue and push. A day of the data set's
own reference (the OSI SAF record of 2019 for the ``osisaf`` family; a synthetic day for the
synthetic one) is seen through a mask (a preset of :data:`seaice_explorer.data.masks.MASKS` or a
drawn box), a backend's prior is conditioned on what is seen
(:func:`seaice_explorer.assimilation.assimilate`), and the posterior ensemble, the climatology of as
many members (the same calendar window of the record's other years) and harmonic inpainting are
scored in the hidden cells (:func:`~seaice_explorer.evaluation.assimilation_scores.score_day`).

One run is a :class:`~.jobs.Job` on the page's queue: the worker conditions, makes the baselines,
scores and caches (:meth:`ObservationsState.fill_in`), counting sampler steps and pushing its progress
and its end to the page, where :meth:`ObservationsState.poll` applies them on the page's own thread.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pandas as pd
import param
import xarray as xr

from ...data import open_reference
from ...data.masks import MASKS
from ...recipe import PAPER, Recipe
from ...registry import ModelEntry, Registry
from ...runtime import release_memory
from . import analysis
from .jobs import Job, StepCallback, outcome
from .observation_results import (DRAWN_BOX, SCORE_COLUMNS, ObservationKey, ObservationResult, box_mask, box_of,
                                  compute)
from .service import Cancelled
from .state import ExplorerState

log = logging.getLogger(__name__)

#: How the tab samples: the paper's sampler (Heun), clamped to the physical bounds, so the maps, the
#: probability and the scores read concentrations in 0..1; n, steps and seed come from the tab.
RECIPE = PAPER.replace(bounds="clamp")
#: The default day: the record's day nearest this month and day of its last year (near the maximum
#: extent, a long ice edge).
DEFAULT_MONTH_DAY = (3, 15)
#: The default conditioning: moment matching (MMPS) fits every backend kind and, on the 2019 tuning days of
#: ``assimilation-report --stage tune``, beat DPS in fair CRPS on the ice-edge box (DPS costs about a third).
DEFAULT_METHOD = "mmps"
#: The module behind the conditioning; it loads torch, so it is imported on first use (as the CLI's
#: command table does), never when the page starts.
ASSIMILATION_MODULE = "seaice_explorer.assimilation"


class AssimilateFn(Protocol):
    """The part of :func:`seaice_explorer.assimilation.assimilate` the tab calls."""

    def __call__(self, backend: str, obs: xr.Dataset, recipe: Recipe, *, obs_sigma: float, method: str,
                 device: str, models_dir: Any, callback: StepCallback | None) -> xr.Dataset: ...


def default_assimilate(backend: str, obs: xr.Dataset, recipe: Recipe, **kw: Any) -> xr.Dataset:
    """:func:`seaice_explorer.assimilation.assimilate`, imported on first use."""
    return importlib.import_module(ASSIMILATION_MODULE).assimilate(backend, obs, recipe, **kw)


def methods_for(entry: ModelEntry) -> list[str]:
    """The conditioning methods that run on ``entry`` (``assimilation.METHODS``), the default first."""
    names = [n for n, m in importlib.import_module(ASSIMILATION_MODULE).METHODS.items() if entry.kind in m.kinds]
    return sorted(names, key=lambda n: n != DEFAULT_METHOD)


@lru_cache(maxsize=4)
def open_record(spec: str) -> xr.Dataset:
    """A data set's whole record, opened lazily once per process (the climatology's pool)."""
    return open_reference(spec)


def default_backend(entries: list[ModelEntry], selected: list[str]) -> str | None:
    """The fastest kind first: the first latent backend among the data set's selected ones, else any."""
    ranked = sorted(entries, key=lambda e: (e.kind != "latent", e.name not in selected))
    return ranked[0].name if ranked else None


def default_day(ref: analysis.ReferenceData) -> date | None:
    """The record's day nearest :data:`DEFAULT_MONTH_DAY` of its last year (None for a record without dates)."""
    if "time" not in ref.ds.indexes:
        return None
    dates = ref.ds.indexes["time"].normalize()
    target = pd.Timestamp(dates.max().year, *DEFAULT_MONTH_DAY)
    return dates[int(np.argmin(np.abs((dates - target).days)))].date()


def opening_key(registry: Registry, dataset: str, spec: str, truth: analysis.ReferenceData, *, n: int = 8,
                steps: int = 10, seed: int = 0, preset: str = "edge_box", obs_sigma: float = 0.05) -> ObservationKey | None:
    """The run the tab opens on (its defaults: the fastest backend, the default method and day, the ice-edge
    box); the tour's "Filling the gaps" shows it. None when the data set has no backend or no dated day."""
    backend = default_backend(registry.for_dataset(dataset), registry.default_selection(dataset))
    day = default_day(truth)
    if backend is None or day is None:
        return None
    return ObservationKey(backend, spec, str(day), preset, float(obs_sigma), methods_for(registry.get(backend))[0],
                          RECIPE.replace(n=n, steps=steps, seed=seed))


def run_key(key: ObservationKey, truth: analysis.ReferenceData, *, models_dir: Any, record: str | None, device: str,
            assimilate_fn: AssimilateFn = default_assimilate,
            record_loader: Callable[[str], xr.Dataset] = open_record, callback: StepCallback | None = None,
            phase: Callable[[str], None] = lambda _: None) -> ObservationResult:
    """One run (any thread): ``key``'s day observed, conditioned, scored against the climatology of ``record``
    (the data set's whole record, when it has one) and harmonic inpainting (:func:`.observation_results.compute`)."""
    def condition(obs: xr.Dataset) -> xr.Dataset:
        return assimilate_fn(key.backend, obs, key.recipe, obs_sigma=key.obs_sigma, method=key.method, device=device,
                             models_dir=models_dir, callback=callback)

    pool = record_loader(record) if record is not None else None
    return compute(key, truth.ds, truth.geometry, condition, pool, phase)


class ObservationsState(param.Parameterized):
    """Settings, results and actions of one page's Observations tab (a page's :class:`ExplorerState`)."""

    day = param.CalendarDate(default=None, allow_None=True, doc="Day of the data set's reference to observe.")
    preset = param.Selector(default="edge_box", objects=[*MASKS, DRAWN_BOX],
                            doc="Which cells are hidden: a preset mask or the box drawn on the observed map.")
    box = param.NumericTuple(default=(-500e3, 500e3, -500e3, 500e3), length=4,
                             doc="The drawn box: x0, x1, y0, y1 in the grid's projected metres.")
    obs_sigma = param.Number(default=0.05, bounds=(0.005, 0.5), doc="Observation error σ_obs (sic, 0..1).")
    n = param.Integer(default=8, bounds=(2, 32), doc="Members of the posterior (and of the climatology).")
    backend = param.Selector(default=None, objects=[], allow_None=True, check_on_set=True,
                             doc="Backend whose prior is conditioned on the observations.")
    method = param.Selector(default=DEFAULT_METHOD, objects=[DEFAULT_METHOD], check_on_set=True,
                            doc="How the sampler is conditioned (DPS, MMPS, RePaint).")
    steps = param.Integer(default=10, bounds=(2, 100), doc="Sampler steps (guidance needs about 10 or more).")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Seed of the members (and of the sparse mask).")
    reveal = param.Boolean(default=False, doc="Show the held-out truth.")
    member = param.Integer(default=0, bounds=(0, 31), doc="Member shown.")

    # ---- outputs (read-only for the views)
    truth = param.Parameter(default=None, precedence=-1, doc="analysis.ReferenceData the days come from.")
    result = param.Parameter(default=None, precedence=-1, doc="ObservationResult shown.")
    running = param.Boolean(default=False, precedence=-1)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), precedence=-1)
    status = param.String(default="", precedence=-1)

    def __init__(self, explorer: ExplorerState, *, assimilate_fn: AssimilateFn | None = None,
                 record_loader: Callable[[str], xr.Dataset] | None = None, **params: Any) -> None:
        self.explorer = explorer
        self.assimilate_fn = assimilate_fn or default_assimilate
        self.record_loader = record_loader or open_record
        #: Called (from a worker) when a run or a load moves on; the page then :meth:`poll`s on its own
        #: thread (the view sets it). None: poll yourself.
        self.push: Callable[[], None] | None = None
        self._job: Job | None = None
        self._loading: tuple[str, Future] | None = None
        self._opening: ObservationKey | None = None  # a run to open once the record is loaded
        super().__init__(**params)
        explorer.param.watch(lambda _: self._on_dataset(sync=False), ["dataset"])
        self._on_dataset(sync=True)
        explorer.param.watch(lambda event: self.open(event.new), ["observe"])
        self.open(explorer.observe)

    # ------------------------------------------------------------------ the data set: backends, truth
    def _on_dataset(self, sync: bool) -> None:
        if self._job is not None:
            self.cancel()
        ex = self.explorer
        entries = ex.registry.for_dataset(ex.dataset)
        self.param.backend.objects = [e.name for e in entries]
        self.param.update(result=None, truth=None, reveal=False,
                          backend=default_backend(entries, ex.registry.default_selection(ex.dataset)))
        self._on_backend()
        self._load_truth(sync)

    @param.depends("backend", watch=True)
    def _on_backend(self) -> None:
        methods = methods_for(self.explorer.registry.get(self.backend)) if self.backend else [DEFAULT_METHOD]
        self.param.method.objects = methods
        if self.method not in methods:
            self.method = methods[0]

    def _truth_spec(self) -> str | None:
        return self.explorer.sources.get(self.explorer.dataset)

    def _load_truth(self, sync: bool) -> None:
        """Load the data set's own reference with the page's loader (cached per server): inline when
        ``sync`` or without an executor, else on the page's queue."""
        spec, executor = self._truth_spec(), self.explorer.executor
        if spec is None:
            self.status = f"data set {self.explorer.dataset} has no record to observe"
            return
        if sync or executor is None:
            try:
                self._use_truth(self.explorer.reference_loader(spec))
            except Exception as err:  # noqa: BLE001 - any failure becomes a message
                self.explorer.notify(f"Could not load the record {spec!r}: {err}", "error")
            return
        self.status = f"loading the record {spec}…"
        future = executor.submit(self.explorer.reference_loader, spec)
        self._loading = (spec, future)
        future.add_done_callback(lambda _: self._pushed())

    def _use_truth(self, ref: analysis.ReferenceData) -> None:
        if "time" not in ref.ds.indexes:
            self.explorer.notify(f"The record {ref.name} has no dates: no day to observe.", "warning")
            return
        dates = ref.ds.indexes["time"].normalize()
        first, last = dates.min().date(), dates.max().date()
        self.param.day.bounds = (first, last)
        day = self.day if self.day is not None and first <= self.day <= last else default_day(ref)
        self.param.update(truth=ref, day=day, status="")
        if self._opening is not None:
            self.open(self._opening)

    def _poll_truth(self) -> None:
        spec, future = self._loading  # type: ignore[misc]
        if not future.done():
            return
        self._loading = None
        try:
            ref = future.result()
        except Exception as err:  # noqa: BLE001 - reported in the page
            self.explorer.notify(f"Could not load the record {spec!r}: {err}", "error")
            return
        if spec == self._truth_spec():  # not overtaken by another data set
            self._use_truth(ref)

    # ------------------------------------------------------------------ a run
    def open(self, key: ObservationKey | None) -> Job | None:
        """Set the tab to ``key``'s settings and run it: from the cache at once when it is there (the tour's
        Explore this puts it there). Waits for the record when it is still loading."""
        if key is None:
            return None
        if self.truth is None or self._loading is not None:
            self._opening = key
            return None
        self._opening = None
        if key.truth != self._truth_spec() or key.backend not in self.param.backend.objects:
            self.explorer.notify(f"Cannot open the run of {key.backend} on {key.truth}: data set "
                                 f"{self.explorer.dataset} is shown.", "warning")
            return None
        drawn = key.mask.startswith("box ")
        self.backend = key.backend  # first: it sets the methods the backend runs
        self.param.update(method=key.method, day=date.fromisoformat(key.day), preset=DRAWN_BOX if drawn else key.mask,
                          box=box_of(key.mask) if drawn else self.box, obs_sigma=key.obs_sigma, n=key.recipe.n,
                          steps=key.recipe.steps, seed=key.recipe.seed, reveal=False)
        return self.run()

    def mask_name(self) -> str:
        """The mask as the cache key names it."""
        return self.preset if self.preset != DRAWN_BOX else "box " + " ".join(f"{v:.0f}" for v in self.box)

    def key(self) -> ObservationKey:
        return ObservationKey(self.backend or "", self._truth_spec() or "", str(self.day), self.mask_name(),
                              float(self.obs_sigma), self.method,
                              RECIPE.replace(n=self.n, steps=self.steps, seed=self.seed))

    def problem(self) -> str | None:
        """Why a run cannot start now, or None."""
        if self._job is not None and not self._job.finished:
            return "A run is already going; cancel it or wait."
        if not self.backend:
            return f"Data set {self.explorer.dataset} has no backend to condition."
        if self.truth is None or self._loading is not None:
            return "The record of days is still loading; try again in a moment."
        lo, hi = self.param.day.bounds
        if self.day is None or not lo <= self.day <= hi:
            return f"Pick a day between {lo} and {hi}."
        if self.preset == DRAWN_BOX:
            x0, x1, y0, y1 = self.box
            g = self.truth.ds
            if (x1 - x0) <= 0 or (y1 - y0) <= 0 or not box_mask(g.isel(time=0), self.box).values.any():
                return "The drawn box holds no ocean cell: draw it over the sea (shift + drag on the observed map)."
        return None

    def run(self) -> Job | None:
        """Observe the day through the mask and fill it in, off the UI thread (cached results at once).
        Returns the job, None when refused (with a message)."""
        why = self.problem()
        if why:
            self.explorer.notify(why, "warning")
            return None
        key = self.key()
        job = Job(plan=[key], steps_per_backend=self.steps, kind="observations")  # type: ignore[list-item]
        hit = self.explorer.cache.get(key)
        if hit is not None:
            job.results[key.backend] = hit
            job.done_steps = job.total_steps
        record = self.explorer.registry.dataset_source(self.explorer.dataset)
        self._job = job
        job.listener = self._pushed
        self.param.update(running=True, progress=job.fraction, status="starting…")
        executor = self.explorer.executor
        if executor is None or hit is not None:
            self.fill_in(job, self.truth, record)
            self.poll()
        else:  # the future ends also when the run is cancelled before it starts (it never pushes then)
            executor.submit(self.fill_in, job, self.truth, record).add_done_callback(lambda _: self._pushed())
        return job

    def fill_in(self, job: Job, truth: analysis.ReferenceData, record: str | None) -> None:
        """The worker: observe, condition, make the baselines, score, cache (any thread)."""
        key: ObservationKey = job.plan[0]  # type: ignore[assignment]
        with outcome(job, "Could not fill in the observations"):
            if key.backend not in job.results:
                result = self._compute(job, key, truth, record)
                self.explorer.cache.put(key, result)
                job.results[key.backend] = result  # type: ignore[assignment]
                release_memory()

    def _phase(self, job: Job, phase: str) -> None:
        if job.cancel.is_set():
            raise Cancelled()
        job.phase = phase
        job.push()

    def _compute(self, job: Job, key: ObservationKey, truth: analysis.ReferenceData,
                 record: str | None) -> ObservationResult:
        return run_key(key, truth, models_dir=self.explorer.registry.models_dir, record=record,
                       device=self.explorer.device, assimilate_fn=self.assimilate_fn, record_loader=self.record_loader,
                       callback=job.on_step, phase=lambda phase: self._phase(job, phase))

    def cancel(self) -> None:
        """Ask the running run to stop at its next sampler step."""
        if self._job is not None and not self._job.finished:
            self._job.cancel.set()
            self.status = "cancelling…"

    def _pushed(self) -> None:
        push = self.push
        if push is not None:
            push()

    def poll(self) -> bool:
        """Apply a load's or the run's progress and outcome (UI thread); True while one is going."""
        if self._loading is not None:
            self._poll_truth()
        job = self._job
        if job is None:
            return self._loading is not None
        if not job.finished:
            self.param.update(progress=job.fraction, status=job.phase)
            return True
        self._job = None
        if job.cancelled or job.error:
            self.param.update(running=False, progress=0.0, status="cancelled" if job.cancelled else "failed")
            self.explorer.notify(job.error or "Run cancelled; the previous result is still shown.",
                                 "error" if job.error else "warning")
            return False
        key: ObservationKey = job.plan[0]  # type: ignore[assignment]
        result: ObservationResult = job.results[key.backend]  # type: ignore[assignment]
        old = self.result
        same_truth = old is not None and (old.key.truth, old.key.day, old.key.mask) == (key.truth, key.day, key.mask)
        self.param.update(result=result, running=False, progress=1.0, member=min(self.member, result.n - 1),
                          reveal=self.reveal and same_truth,
                          status=f"done in {job.elapsed_s:.1f} s ({result.n} members, sampling {result.seconds:.1f} s)")
        return False

    # ------------------------------------------------------------------ derived, for the views
    def scores_table(self) -> pd.DataFrame:
        """Sources × scores of the shown result, in the hidden cells."""
        if self.result is None:
            return pd.DataFrame(columns=list(SCORE_COLUMNS.values()))
        table = pd.DataFrame(self.result.scores).T
        table["iiee"] = table["iiee"] / 1e3  # km² -> 10³ km²
        return table.rename(columns=SCORE_COLUMNS).astype(object).where(table.notna().values, "–")
