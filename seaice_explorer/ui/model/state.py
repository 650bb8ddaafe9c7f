"""Dashboard state and actions: ``param.Parameterized``, no Panel import, tested in plain pytest.

:class:`ExplorerState` holds the settings of one session. The backends it offers, their
defaults and the bounds each can apply all come from a :class:`~seaice_explorer.registry.Registry`
(one data set at a time, next to that data set's reference). Generation runs off the UI thread
through an injected executor (:mod:`.jobs`), results are cached per server, and every failure
or refusal becomes a ``message`` without losing the results already shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

import param

from ...configs import DEFAULT_DATASET
from ...data.readers import dataset_reference
from ...registry import ModelEntry, Registry
from ...variables import STATE_VARIABLES
from . import analysis, jobs
from ...recipe import cache_key
from .bounds import BOUNDS_LABELS, bounds_modes
from .jobs import GenerateFn, Job, ResultCache
from .settings import Settings

log = logging.getLogger(__name__)

ReferenceLoader = Callable[[str], "analysis.ReferenceData"]


class ExplorerState(Settings):
    """Settings, results and actions of one dashboard session (Finn et al. 2024 comparison)."""

    # ---- outputs (read-only for the views)
    results = param.Dict(default={}, precedence=-1, doc="backend -> analysis.Result of the shown generation.")
    reference_data = param.Parameter(default=None, precedence=-1, doc="analysis.ReferenceData in use.")
    trajectory = param.Parameter(default=None, precedence=-1, doc="trajectory.Trajectory of the denoising replay.")
    running = param.Boolean(default=False, precedence=-1)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), precedence=-1)
    status = param.String(default="", precedence=-1)
    message = param.String(default="", precedence=-1)
    message_level = param.Selector(default="info", objects=["info", "success", "warning", "error"], precedence=-1)
    message_serial = param.Integer(default=0, precedence=-1, doc="Bumped on every message (notify even if repeated).")
    stale = param.Boolean(default=False, precedence=-1, doc="Settings differ from the results shown.")
    observe = param.Parameter(default=None, precedence=-1,
                              doc="observation_results.ObservationKey the Observations tab opens on and runs (set by "
                                  "the tour's Explore this); the tab reads it when built and whenever it changes.")

    def __init__(self, registry: Registry, *, generate_fn: GenerateFn | None = None,
                 reference_loader: ReferenceLoader | None = None, sources: Mapping[str, str] | None = None,
                 cache: ResultCache | None = None, executor: Executor | None = None, device: str = "auto",
                 auto_regenerate: bool = True, **params: Any) -> None:
        self.registry = registry
        datasets = registry.datasets or [DEFAULT_DATASET]
        # reference name -> what the server opens: each data set's own reference (a known name, or its
        # file inside the models folder, never the current directory), then the extra ones
        own = {ds: registry.dataset_source(ds) for ds in datasets}  # None: a label, no data to open
        self.sources = {**{ds: dataset_reference(src) for ds, src in own.items() if src is not None},
                        **dict(sources or {})} or {DEFAULT_DATASET: DEFAULT_DATASET}
        self.param.dataset.objects = datasets
        self.param.reference.objects = list(self.sources)
        for key, value in self._offer(params.get("dataset", datasets[0])).items():
            params.setdefault(key, value)
        super().__init__(**params)
        self.runner = jobs.Runner(generate_fn or jobs.default_generate, cache if cache is not None else ResultCache(),
                                  device, registry.models_dir)
        self.reference_loader: ReferenceLoader = reference_loader or analysis.load_reference
        self.executor = executor
        #: Called (from a worker thread) when a job or a reference load moves on; the page then
        #: :meth:`poll`s on its own thread (:func:`.session.connect_session` sets it). None: poll yourself.
        self.push: Callable[[], None] | None = None
        self.auto_regenerate = auto_regenerate
        self._job: Job | None = None
        self._shown: tuple | None = None
        self._loading: tuple[str, Future] | None = None  # (reference name, pending load)
        self._pending_generate = False  # Generate was pressed while the reference was loading

    cache = property(lambda self: self.runner.cache, doc="The results cache (shared by a server's sessions).")
    device = property(lambda self: self.runner.device, doc="The generation device.")

    # ------------------------------------------------------------------ backends from the registry
    def _offer(self, dataset: str) -> dict[str, Any]:
        """Offer ``dataset``'s backends and the variables they model (``sic`` alone for an observed
        dataset); returns its defaults (selection, replay backend, reference, variable)."""
        entries = self.registry.for_dataset(dataset)
        names = [e.name for e in entries]
        self.param.backends.objects = names
        self.param.denoise_backend.objects = names
        variables = [v for v in STATE_VARIABLES if any(v in e.variables for e in entries)] or list(STATE_VARIABLES)
        self.param.variable.objects = variables
        chosen = self.registry.default_selection(dataset)
        return {"dataset": dataset, "backends": chosen, "denoise_backend": chosen[-1] if chosen else None,
                "reference": dataset if dataset in self.sources else next(iter(self.sources)),
                "variable": "sic" if "sic" in variables else variables[0]}

    @param.depends("dataset", watch=True)
    def _on_dataset(self) -> None:
        self._shown = None
        self.param.update(results={}, trajectory=None, stale=False, **self._offer(self.dataset))

    def _refuse_bounds(self, problem: str) -> None:
        self.notify(f"Bounds “{BOUNDS_LABELS[self.bounds]}” are not available: {problem}. Generation is "
                    "refused until you choose another bounds mode or other backends.", "warning")

    @param.depends("backends", watch=True)
    def _on_backends(self) -> None:
        problem = self.bounds_problem()
        if problem:
            self._refuse_bounds(problem)

    @param.depends("bounds", watch=True)
    def _on_bounds(self) -> None:
        if self.results and self.auto_regenerate:
            self.generate()  # the bounds toggle is live (an unavailable mode is refused with a message)
        elif self.bounds_problem():
            self._refuse_bounds(self.bounds_problem())  # type: ignore[arg-type]

    # ------------------------------------------------------------------ messages
    def notify(self, text: str, level: str = "info") -> None:
        """Record a message for the view to show as a notification."""
        log.log(logging.ERROR if level == "error" else logging.INFO, "%s", text)
        self.param.update(message=text, message_level=level, message_serial=self.message_serial + 1)

    # ------------------------------------------------------------------ reference
    def _use_reference(self, data: analysis.ReferenceData, **extra: Any) -> None:
        self.param.update(reference_data=data, ref_index=min(self.ref_index, max(data.n_states - 1, 0)), **extra)

    def load_reference(self) -> bool:
        """Load the selected reference (via the injected loader); keep the old one on failure."""
        try:
            data = self.reference_loader(self.sources[self.reference])
        except Exception as err:  # noqa: BLE001 - any failure becomes a message, never a crash
            self.notify(f"Could not load the reference {self.reference!r}: {err}", "error")
            return False
        self._use_reference(data)
        return True

    @param.depends("reference", watch=True)
    def _on_reference(self) -> None:
        """A new reference was chosen: load it off the UI thread when there is an executor."""
        if self.executor is None:
            self._reference_loaded(self.load_reference())
            return
        self.status = f"loading the reference {self.reference}…"
        future = self.executor.submit(self.reference_loader, self.sources[self.reference])
        self._loading = (self.reference, future)
        future.add_done_callback(lambda _: self._pushed())  # loaded: the page polls on its own turn

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
            self._use_reference(data, status=f"reference {name} loaded")
            self._reference_loaded(True)

    def _reference_loaded(self, ok: bool) -> None:
        if ok and (self.results or self._pending_generate) and self.auto_regenerate:
            self._pending_generate = False
            self.generate()  # scores are against the reference: recompute (cached samples are reused)

    # ------------------------------------------------------------------ generation
    @param.depends("backends", "n", "steps", "sampler", "seed", "bounds", "reference", watch=True)
    def _on_settings(self) -> None:
        self.stale = bool(self.results) and self.settings() != self._shown

    def _refused(self, entries: list[ModelEntry]) -> bool:
        """True (with a message) when a job may not start now, or not with these backends and bounds."""
        if self._job is not None and not self._job.finished:
            self.notify("A generation is already running; cancel it or wait.", "warning")
            return True
        if not entries:
            self.notify("Select at least one backend.", "warning")
            return True
        problem = bounds_modes(entries)[self.bounds]
        if problem:
            self._refuse_bounds(problem)
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
        job.listener = self._pushed
        self.param.update(running=True, progress=job.fraction, status="starting…")
        if self.executor is None or job.done_steps >= job.total_steps:
            worker(job, *args)
            self.poll()
        else:
            self.executor.submit(worker, job, *args)
        return job

    def _pushed(self) -> None:
        """A job moved on (on a worker thread): tell the page, if it is still open (see :attr:`push`)."""
        push = self.push
        if push is not None:
            push()

    def generate(self) -> Job | None:
        """Start generating for the current settings: cached backends come back at once, the rest
        run on the executor (or inline without one). Returns the job, None when refused."""
        if self._refused(self.entries()):
            return None
        if self.reference_data is None and not self.load_reference():
            return None
        job = Job(plan=self.plan(), steps_per_backend=self.steps)
        for key in job.plan:
            hit = self.cache.get(key)
            if hit is not None:
                job.results[key.backend] = hit
                job.done_steps += job.steps_per_backend
        return self._start(job, self.runner.ensemble, self.reference_data)

    def record_trajectory(self) -> Job | None:
        """Generate one sample of ``denoise_backend`` with its denoising path (cached), off the UI
        thread like :meth:`generate`; :meth:`poll` then shows it from its last step."""
        backend = self.denoise_backend
        if self._refused([self.registry.get(backend)] if backend else []):
            return None
        key = cache_key(backend, self.recipe(n=1), "trajectory")
        job = Job(plan=[key], steps_per_backend=self.steps, kind="trajectory")
        job.trajectory = self.cache.get(key)
        if job.trajectory is not None:
            job.done_steps = job.total_steps
        return self._start(job, self.runner.trajectory)

    def clear_results(self) -> None:
        """Show the reference alone (the tour's first stop); cached results stay cached."""
        self._shown = None
        self.param.update(results={}, stale=False)

    def cancel(self) -> None:
        """Ask the running generation to stop at its next sampler step."""
        if self._job is not None and not self._job.finished:
            self._job.cancel.set()
            self.status = "cancelling…"

    def poll(self) -> bool:
        """Apply the running job's progress and, once it is finished, its outcome (UI thread).

        Returns True while a job (or a reference load) is still running.
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
        if job.cancelled or job.error:
            self.param.update(running=False, progress=0.0, status="cancelled" if job.cancelled else "failed")
            self.notify(job.error or "Generation cancelled; the previous results are still shown.",
                        "error" if job.error else "warning")
        elif job.kind == "trajectory":
            traj = job.trajectory
            self.param.update(trajectory=traj, running=False, progress=1.0,
                              status=f"recorded {traj.backend} in {job.elapsed_s:.1f} s")  # type: ignore[union-attr]
            self.denoise_step = traj.n_steps  # type: ignore[union-attr]
        else:
            self._shown = self.settings()
            self.param.update(results={k.backend: job.results[k.backend] for k in job.plan}, running=False,
                              progress=1.0, stale=False, member=min(self.member, self.n - 1),
                              status=f"done in {job.elapsed_s:.1f} s (seed {job.plan[0].seed})")
        return False

    # ------------------------------------------------------------------ derived, for the views
    def colours(self) -> dict[str, str]:
        """Backend name -> display colour (from the registry), for the charts."""
        return {name: entry.colour for name, entry in self.registry.entries.items()}

    def violation_summary(self) -> dict[str, float]:
        """Fraction of bounded ocean values beyond their bounds, per shown backend."""
        return {b: r.beyond_fraction for b, r in self.results.items()}

    def applied_bounds(self) -> dict[str, str]:
        """The bounds each shown result was generated with."""
        return {b: r.key.bounds for b, r in self.results.items()}

