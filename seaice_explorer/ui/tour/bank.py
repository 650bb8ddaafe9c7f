"""The tour's server-wide side (no Panel): its results and its content, made once per server, and
pushed to the pages that wait for them.

:func:`prepare` runs once per server (after the warm-up, on the generation service's worker): for
each stop in tour order it generates what the stop shows (:data:`.stops.TOUR_RECIPE`; nothing for
the finding stops, which draw the evaluation report; the Observations tab's opening run for "Filling
the gaps") and draws its content (:mod:`.content`). Each
stop's content is pushed to the pages as soon as it is drawn (:meth:`Bank.subscribe`): no page polls.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...evaluation.assimilation_verdicts import VERDICTS_FILE, AssimilationVerdicts, assimilation_folder, read_verdicts
from ...evaluation.reports import FINDINGS_FILE, Report, read_report, report_folder
from ...registry import Registry
from ..model import analysis
from ..model.jobs import GenerationKey, Job, ResultCache, Runner
from ..model.observation_results import ObservationKey, ObservationResult
from ..model.observations import opening_key
from ..model.state import ExplorerState
from . import content, story
from .stops import OBSERVED_DATASET, Stop, family

log = logging.getLogger(__name__)

Listener = Callable[[], None]
#: Runs one observation key on a loaded reference, with the climatology of a data set's record (its
#: source, or None): :func:`seaice_explorer.ui.model.observations.run_key`. What "Filling the gaps" shows.
Observe = Callable[[ObservationKey, analysis.ReferenceData, "str | None"], ObservationResult]


@dataclass
class Bank:
    """What the stops show, computed once per server and held here (the LRU cache may evict its copy)."""

    items: dict[GenerationKey, object] = field(default_factory=dict)
    content: dict[str, content.StopContent] = field(default_factory=dict)
    observations: dict[str, ObservationResult] = field(default_factory=dict)  # stop key -> its run
    ref_index: dict[str, int] = field(default_factory=dict)  # reference -> the state the stops show of it
    loaded: set[str] = field(default_factory=set)  # references loaded (so cached: switching to one is instant)
    total: int = 0
    started: bool = False
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    listeners: dict[int, Listener] = field(default_factory=dict)

    def ready(self, stop: Stop) -> bool:
        """True once the stop's content is drawn."""
        return stop.key in self.content

    def restore(self, cache: ResultCache, keys: Sequence[GenerationKey]) -> None:
        """Put a stop's results back into the results cache (a no-op when they are there)."""
        for key in keys:
            if key in self.items and key not in cache:
                cache.put(key, self.items[key])

    def start(self, work: Callable[[], None], submit: Callable[[Callable[[], None]], object] | None) -> None:
        """Run ``work`` once per server (through ``submit``, inline without it)."""
        with self.lock:
            if self.started:
                return
            self.started = True
        if submit is None:
            work()
        else:
            submit(work)

    # ---------------------------------------------------------------- pushed to the pages
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (from the worker thread) whenever a stop's content is drawn or the
        preparation ends; returns the function that unsubscribes it (call it when the page closes)."""
        token = id(listener)
        with self.lock:
            self.listeners[token] = listener
        return lambda: self.listeners.pop(token, None)

    def notify(self) -> None:
        for listener in list(self.listeners.values()):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a closed page never stops the preparation
                log.exception("a tour listener failed")

    @property
    def status(self) -> str:
        return ("All steps ready" if self.done else
                f"Preparing the tour: {len(self.content)} of {self.total or '…'} steps ready")


@functools.lru_cache(maxsize=8)
def _report(folder: Path, mtimes: tuple[float, float]) -> Report | None:
    return read_report(folder)


def current_report(dataset: str) -> Report | None:
    """``dataset``'s evaluation report as it is on disk now (re-read when its table or its findings change)."""
    folder = report_folder(dataset)
    table, findings = folder / "table.csv", folder / FINDINGS_FILE
    if not table.is_file():
        return None
    return _report(folder, (table.stat().st_mtime, findings.stat().st_mtime if findings.is_file() else 0.0))


@functools.lru_cache(maxsize=4)
def _verdicts(folder: Path, mtime: float) -> AssimilationVerdicts | None:
    return read_verdicts(folder)


def current_verdicts() -> AssimilationVerdicts | None:
    """The gap-filling report's verdicts as they are on disk now (None without a report)."""
    folder = assimilation_folder()
    path = folder / VERDICTS_FILE
    return _verdicts(folder, path.stat().st_mtime) if path.is_file() else None


def reports_for(registry: Registry) -> story.Reports:
    """The reports the tour quotes: its family's and, when another, the observed data set's; the
    gap-filling report's verdicts."""
    home = family(registry)
    return story.Reports(family=current_report(home),
                         observed=current_report(OBSERVED_DATASET) if home != OBSERVED_DATASET else None,
                         assimilation=current_verdicts())


def busiest_state(reference: analysis.ReferenceData) -> int:
    """The reference state with the largest marginal ice zone (0 without sea-ice concentration)."""
    area = np.asarray(reference.miz_area)
    return int(np.nanargmax(area)) if area.size and np.isfinite(area).any() else 0


def _results(stop: Stop, runner: Runner, reference: analysis.ReferenceData | None, bank: Bank) -> None:
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


def _observe(stop: Stop, reference: analysis.ReferenceData | None, bank: Bank, registry: Registry,
             sources: Mapping[str, str], observe: Observe | None) -> None:
    if stop.key in bank.observations or observe is None or reference is None:
        return
    key = opening_key(registry, stop.dataset, sources[stop.reference], reference)
    if key is None:
        raise ValueError(f"data set {stop.dataset} has no backend to condition or no dated day")
    bank.observations[stop.key] = observe(key, reference, registry.dataset_source(stop.dataset))


def prepare(bank: Bank, stops: Sequence[Stop], runner: Runner, registry: Registry,
            load_reference: Callable[[str], analysis.ReferenceData], sources: Mapping[str, str],
            reports: Callable[[], story.Reports], observe: Observe | None = None) -> None:
    """Generate what every stop shows and draw its content, in tour order, into ``bank``; each stop is
    pushed to the pages once drawn. ``observe`` runs the gap filling (without it that stop says its
    picture is missing). A failure is logged and leaves that stop's words saying so."""
    bank.total = len(stops)
    for stop in stops:
        reference = None
        try:
            if stop.reference in sources:
                reference = load_reference(sources[stop.reference])
                if stop.reference not in bank.loaded:
                    bank.loaded.add(stop.reference)
                    bank.ref_index[stop.reference] = busiest_state(reference)
            if stop.observes:
                _observe(stop, reference, bank, registry, sources, observe)
            elif stop.generated:
                _results(stop, runner, reference, bank)
        except Exception as err:  # noqa: BLE001 - the stop then says its picture is missing
            log.warning("the tour could not prepare %r: %s", stop.key, err)
        keys = stop.keys() if stop.generated else []
        shown = story.Shown(registry, reference, bank.ref_index.get(stop.reference, 0),
                            next((bank.items[k] for k in keys if k in bank.items), None) if stop.replay else None,
                            {k.backend: bank.items[k] for k in keys if k in bank.items and not stop.replay},
                            bank.observations.get(stop.key))
        bank.content[stop.key] = content.build(stop, shown, reports())
        bank.notify()
    bank.done = True
    bank.notify()
    log.info("tour prepared: %d stops, %d results", len(bank.content), len(bank.items))


def apply_stop(s: ExplorerState, stop: Stop, bank: Bank) -> None:
    """Set the session's state to the stop's settings ("Explore this"); its results come from the bank
    when they are there (at once), otherwise the state generates them. The gap filling opens the
    Observations tab on its run (:attr:`ExplorerState.observe`)."""
    if stop.observes:
        result = bank.observations.get(stop.key)
        if stop.dataset in s.param.dataset.objects and s.dataset != stop.dataset:
            s.dataset = stop.dataset
        if result is not None:
            s.cache.put(result.key, result)
            s.observe = None  # the tab opens the run even when it was opened before
            s.observe = result.key
        return
    bank.restore(s.cache, stop.keys())
    auto, s.auto_regenerate = s.auto_regenerate, False  # one generate below, not one per changed setting
    try:
        if stop.dataset in s.param.dataset.objects and s.dataset != stop.dataset:
            s.dataset = stop.dataset
        r = stop.recipe
        settings: dict[str, object] = dict(bounds=stop.bounds, n=r.n if not stop.replay else s.n, steps=r.steps,
                                           sampler=r.sampler, seed=r.seed, summary="member", member=0, show_miz=True)
        if not stop.replay:
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
        s.auto_regenerate = auto
    if stop.replay:
        s.record_trajectory()
    elif s.backends:
        s.generate()
