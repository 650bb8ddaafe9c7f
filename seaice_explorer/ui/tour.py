"""The guided tour: seven stops a teacher clicks through, each setting a dashboard state (no Panel).

Every stop says what it shows (:class:`Stop`: data set, backends, bounds, replayed backend, tab)
and :mod:`.story` says it in two or three sentences, with the numbers of the evaluation reports.
No stop waits for generation in front of an audience: what the stops show is **computed once per
server when it starts** (:func:`prepare`, on the worker threads, after the warm-up) and kept in a
:class:`Bank` that the results cache cannot evict. A prepared stop gets a state of its own
(:meth:`Tour.slide_state`, set from the bank at once) that the page draws once, as a slide, so a
step only changes which slide is visible; closing the tour leaves the session's own state on the
last stop. A stop not prepared yet is applied to the session's state instead (it then generates).
Backends are picked from the registry by kind and decoder, never by name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import param

from ..configs import DEFAULT_DATASET
from ..registry import ModelEntry, Registry
from . import analysis
from .jobs import GenerationKey, Job, ResultCache, Runner
from .state import ExplorerState

log = logging.getLogger(__name__)

#: What every stop generates: the app's default ensemble size, the paper's sampler.
TOUR_N, TOUR_STEPS, TOUR_SEED, TOUR_SAMPLER = 8, 20, 0, "heun"
#: The data set of real observations whose reference opens the tour (when its models are installed).
OBSERVED_DATASET = "osisaf"
#: Tab names (as laid out by app.py) the stops show.
MAPS, MIZ, SMOOTHING, DENOISE = "Maps", "MIZ statistics", "Smoothing", "Watch it denoise"


@dataclass(frozen=True)
class Stop:
    """One step of the tour: what the dashboard shows there."""

    key: str  # ice, denoise, latent, finding1, finding2, finding3, speed
    title: str
    tab: str
    dataset: str
    backends: tuple[str, ...] = ()
    bounds: str = "clamp"
    replay: str | None = None  # backend whose denoising is replayed
    variable: str = "sic"

    @property
    def reference(self) -> str:
        """The reference as the state names it: the data set's own (a key of ``ExplorerState.sources``)."""
        return self.dataset

    def keys(self) -> list[GenerationKey]:
        """The cache keys of what this stop shows (as :meth:`ExplorerState.plan` / ``record_trajectory`` make them)."""
        if self.replay:
            return [GenerationKey(self.replay, 1, TOUR_STEPS, TOUR_SAMPLER, TOUR_SEED, self.bounds, "trajectory")]
        return [GenerationKey(b, TOUR_N, TOUR_STEPS, TOUR_SAMPLER, TOUR_SEED, self.bounds, self.reference)
                for b in self.backends]


def _pick(entries: Sequence[ModelEntry], kind: str, decoder: str | None = None) -> str | None:
    return next((e.name for e in entries if e.kind == kind and (decoder is None or e.decoder == decoder)), None)


def family(registry: Registry) -> str:
    """The data set the findings are shown on: the default one when it has a data-space and a latent
    backend, else the first that has both, else the first data set."""
    datasets = registry.datasets or [DEFAULT_DATASET]
    both = [d for d in datasets if _pick(registry.for_dataset(d), "data") and _pick(registry.for_dataset(d), "latent")]
    return DEFAULT_DATASET if DEFAULT_DATASET in both else (both or datasets)[0]


def plan(registry: Registry) -> list[Stop]:
    """The tour's stops for the backends of ``registry``."""
    home = family(registry)
    entries = registry.for_dataset(home)
    data = _pick(entries, "data")
    gauss = _pick(entries, "latent", "gaussian") or _pick(entries, "latent")
    cens = _pick(entries, "latent", "censored") or gauss
    observed = OBSERVED_DATASET if OBSERVED_DATASET in registry.datasets else home
    pair = tuple(b for b in (data, gauss) if b)
    decoders = tuple(dict.fromkeys(b for b in (gauss, cens) if b))
    return [
        Stop("ice", "Sea ice and the marginal ice zone", MAPS, observed),
        Stop("denoise", "From noise to ice", DENOISE, home, replay=data or gauss),
        Stop("latent", "Latent space", DENOISE, home, replay=cens or data),
        Stop("finding1", "Finding 1: latent scores about as well as data space", MAPS, home, pair, bounds="raw"),
        Stop("finding2", "Finding 2: latent diffusion smooths", SMOOTHING, home, pair, bounds="raw"),
        Stop("finding3", "Finding 3: the bounds and the marginal ice zone", MIZ, home, decoders, bounds="clamp"),
        Stop("speed", "Speed", MAPS, home, pair, bounds="raw"),
    ]


# --------------------------------------------------------------------------- computed once per server
@dataclass
class Bank:
    """What the stops show, computed once per server and held here (the LRU cache may evict its copy)."""

    items: dict[GenerationKey, object] = field(default_factory=dict)
    ref_index: dict[str, int] = field(default_factory=dict)  # reference -> the state the stops show of it
    loaded: set[str] = field(default_factory=set)  # references loaded (so cached: switching to one is instant)
    total: int = 0
    started: bool = False
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ready(self, keys: Sequence[GenerationKey]) -> bool:
        return all(k in self.items for k in keys)

    def restore(self, cache: ResultCache, keys: Sequence[GenerationKey]) -> None:
        """Put this stop's results back into the results cache (a no-op when they are there)."""
        for key in keys:
            if key in self.items and key not in cache:
                cache.put(key, self.items[key])

    def start(self, work: Callable[[], None], executor: Executor | None) -> None:
        """Run ``work`` once (on ``executor``, inline without one)."""
        with self.lock:
            if self.started:
                return
            self.started = True
        if executor is None:
            work()
        else:
            executor.submit(work)


def busiest_state(reference: analysis.ReferenceData) -> int:
    """The reference state with the largest marginal ice zone (0 without sea-ice concentration)."""
    area = np.asarray(reference.miz_area)
    return int(np.nanargmax(area)) if area.size and np.isfinite(area).any() else 0


def prepare(bank: Bank, stops: Sequence[Stop], runner: Runner,
            load_reference: Callable[[str], analysis.ReferenceData], sources: Mapping[str, str]) -> None:
    """Compute what every stop shows, in tour order, into ``bank`` (and the cache). Failures are
    logged and leave that stop to generate when it is shown."""
    keys = list(dict.fromkeys(k for s in stops for k in s.keys()))
    bank.total = len(keys)
    for stop in stops:
        try:
            reference = load_reference(sources[stop.reference]) if stop.reference in sources else None
            if reference is not None and stop.reference not in bank.loaded:
                bank.loaded.add(stop.reference)
                bank.ref_index[stop.reference] = busiest_state(reference)
            for key in stop.keys():
                if key in bank.items:
                    continue
                hit = runner.cache.get(key)
                if hit is None:
                    job = Job(plan=[key], steps_per_backend=key.steps, kind="trajectory" if stop.replay else "ensemble")
                    if stop.replay:
                        runner.trajectory(job)
                    elif reference is not None:
                        runner.ensemble(job, reference)
                    if job.error:
                        raise RuntimeError(job.error)
                    hit = job.trajectory if stop.replay else job.results.get(key.backend)
                if hit is not None:
                    bank.items[key] = hit
        except Exception as err:  # noqa: BLE001 - the stop then generates when shown
            log.warning("the tour could not prepare %r: %s", stop.key, err)
    bank.done = True
    log.info("tour prepared: %d of %d results", len(bank.items), bank.total)


# --------------------------------------------------------------------------- one session's tour
class Tour(param.Parameterized):
    """The tour of one session: which stop is shown, and applying it to the state."""

    step = param.Integer(default=0, bounds=(0, None), doc="Tour stop shown, from 1 (0: the tour is closed).")
    shown = param.Integer(default=0, precedence=-1, doc="Bumped after a stop was applied (for the views).")
    slide = param.Boolean(default=False, precedence=-1,
                          doc="The stop is shown on its own prepared slide (else on the session's own tabs).")

    #: Precedence of the watcher that applies a stop: views may prepare before it (lower precedence).
    APPLY_PRECEDENCE = 10

    def __init__(self, state: ExplorerState, bank: Bank | None = None, **params) -> None:
        self.state = state
        self.bank = bank if bank is not None else Bank()
        self.stops = plan(state.registry)
        self._slides: dict[str, ExplorerState] = {}
        super().__init__(**params)
        self.param.step.bounds = (0, len(self.stops))
        self.param.watch(self._apply, ["step"], precedence=self.APPLY_PRECEDENCE)
        if self.step:
            self._apply()

    @property
    def stop(self) -> Stop | None:
        return self.stops[self.step - 1] if 0 < self.step <= len(self.stops) else None

    def prepare(self) -> None:
        """Start computing every stop's results (once per server; in the background with an executor)."""
        s = self.state
        self.bank.start(lambda: prepare(self.bank, self.stops, s.runner, s.reference_loader, s.sources), s.executor)

    def ready(self, stop: Stop | None = None) -> bool:
        """True when ``stop`` (default: the one shown) is prepared: it shows at once, on a slide."""
        stop = stop or self.stop
        return stop is None or (self.bank.ready(stop.keys()) and stop.reference in self.bank.loaded)

    def slide_state(self, stop: Stop) -> ExplorerState:
        """A state of its own showing ``stop`` (from the bank, so at once), made once per session."""
        if stop.key not in self._slides:
            s = self.state
            own = ExplorerState(s.registry, generate_fn=s.runner.generate_fn, reference_loader=s.reference_loader,
                                sources=s.sources, cache=s.cache, executor=s.executor, device=s.device,
                                auto_regenerate=False)
            apply_stop(own, stop, self.bank)
            self._slides[stop.key] = own
        return self._slides[stop.key]

    def state_of(self, stop: Stop | None = None) -> ExplorerState:
        """The state that shows ``stop`` (default: the one shown): its slide's, or the session's."""
        stop = stop or self.stop
        return self._slides.get(stop.key, self.state) if stop is not None and self.ready(stop) else self.state

    def go(self, step: int) -> None:
        self.step = int(np.clip(step, 0, len(self.stops)))

    def next(self) -> None:
        self.go(self.step + 1 if self.step < len(self.stops) else self.step)

    def previous(self) -> None:
        self.go(max(self.step - 1, 1) if self.step else 0)

    def _apply(self, *events: param.parameterized.Event) -> None:
        stop, old = self.stop, events[0].old if events else 0
        left = self.stops[old - 1] if 0 < old <= len(self.stops) else None
        if stop is None:
            if left is not None and self.slide:
                apply_stop(self.state, left, self.bank)  # the session goes on from where the tour left it
            self.slide = False
        else:
            self.prepare()
            self.slide = self.ready(stop)
            if self.slide:
                self.slide_state(stop)
            else:
                apply_stop(self.state, stop, self.bank)
        self.shown += 1


def apply_stop(s: ExplorerState, stop: Stop, bank: Bank) -> None:
    """Set the state to what ``stop`` shows; its results come from the bank (at once) when prepared."""
    keys = stop.keys()
    bank.restore(s.cache, keys)
    auto, s.auto_regenerate = s.auto_regenerate, False  # one generate below, not one per changed setting
    executor = s.executor
    if stop.reference in bank.loaded:
        s.executor = None  # the reference is cached: load it at once, not on a worker (no wait for a poll)
    try:
        if stop.dataset in s.param.dataset.objects and s.dataset != stop.dataset:
            s.dataset = stop.dataset
        settings: dict[str, object] = dict(bounds=stop.bounds, n=TOUR_N, steps=TOUR_STEPS, sampler=TOUR_SAMPLER,
                                           seed=TOUR_SEED, summary="member", member=0, show_miz=True)
        if not stop.replay:  # a replay keeps the maps of the stop before
            settings["backends"] = [b for b in stop.backends if b in s.param.backends.objects]
        if stop.variable in s.param.variable.objects:
            settings["variable"] = stop.variable
        if stop.reference in s.param.reference.objects:
            settings["reference"] = stop.reference
        if stop.replay in s.param.denoise_backend.objects:
            settings["denoise_backend"] = stop.replay
        if stop.reference in bank.ref_index:
            settings["ref_index"] = bank.ref_index[stop.reference]
        s.param.update(**settings)
    finally:
        s.auto_regenerate, s.executor = auto, executor
    if stop.replay:
        job = s.record_trajectory()
        if job is not None and job.finished and s.trajectory is not None:
            s.denoise_step = s.trajectory.n_steps // 2  # half-way: noise and ice both visible
    elif s.backends:
        s.generate()
    else:
        s.clear_results()
        if s.reference_data is None:
            s.load_reference()
