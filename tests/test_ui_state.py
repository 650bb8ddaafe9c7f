"""Dashboard state in plain pytest: registry-driven backends, the bounds choice, the results
cache, cache keys, errors, cancel, threads."""

from __future__ import annotations

import subprocess
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from seaice_explorer import grid
from seaice_explorer.configs import DenoiserConfig, VAEConfig
from seaice_explorer.plots import animate
from seaice_explorer.registry import BOUNDS, ModelEntry, Registry, discover
from seaice_explorer.trajectory import Trajectory
from seaice_explorer.ui.model import analysis, download
from seaice_explorer.ui.model.bounds import bounds_modes
from seaice_explorer.recipe import Recipe, cache_key
from seaice_explorer.ui.model.jobs import ResultCache, approx_nbytes
from seaice_explorer.ui.model.state import ExplorerState
from seaice_explorer.ui.model.texts import format_fraction
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

SIZE = 32
# Backend names unlike the shipped ones: nothing in the UI may depend on a name.
DATA, GAUSS, CENS, OTHER = "pixel-dm", "latent-g", "latent-c", "arctic-2"


def _entry(name: str, decoder: str | None = None, dataset: str = "default", selected: bool = False,
           order: int = 0) -> ModelEntry:
    if decoder is None:
        cfg = DenoiserConfig(kind="dm", dataset=dataset, selected=selected, order=order, label=f"{name} · data space")
        return ModelEntry(name, Path("/nowhere") / name, cfg, colour="#1b9e77")
    cfg = DenoiserConfig(kind="ldm", vae=f"vae-{decoder}", latent_channels=8, latent_size=32, dataset=dataset,
                         selected=selected, order=order, label=f"{name} · latent, {decoder} decoder")
    return ModelEntry(name, Path("/nowhere") / name, cfg, VAEConfig(decoder=decoder), Path("/nowhere/vae"),
                      colour="#d95f02")


def fake_registry() -> Registry:
    entries = [_entry(DATA, order=0), _entry(GAUSS, "gaussian", selected=True, order=1),
               _entry(CENS, "censored", selected=True, order=2), _entry(OTHER, "censored", dataset="other.nc")]
    return Registry(Path("/nowhere"), {e.name: e for e in entries}, {"half-trained": "config file missing"})


@pytest.fixture(scope="module")
def g32() -> xr.Dataset:
    return grid.default_grid(SIZE)


def _fields(g: xr.Dataset, rng: np.random.Generator, lead: int, overshoot: float) -> dict[str, np.ndarray]:
    """Smooth-ish random states; ``overshoot`` pushes bounded variables past their bounds."""
    yy, xx = np.meshgrid(g.y.values, g.x.values, indexing="ij")
    r = np.hypot(xx, yy) / 1e6
    out = {}
    for name in STATE_VARIABLES:
        base = np.clip(1.3 - r / 2.0, 0, 1)[None] + 0.1 * rng.standard_normal((lead, SIZE, SIZE))
        if name == "sit":
            base = 3 * base
        if name in ("siu", "siv"):
            base = 0.1 * rng.standard_normal((lead, SIZE, SIZE))
        var = VARIABLES[name]
        base = np.clip(base, var.lower - overshoot, var.upper + overshoot)
        out[name] = np.where(g.mask.values == 1, base, np.nan).astype(np.float32)
    return out


class FakeGenerator:
    """Stands in for ``diffusion.generate``: canonical samples on default_grid(32), seeded."""

    def __init__(self, g: xr.Dataset) -> None:
        self.grid = g
        self.calls: list[dict] = []
        self.fail: str | None = None
        self.gate: threading.Event | None = None  # block inside the sampler loop until set

    def __call__(self, backend, recipe, *, device="auto", callback=None, models_dir=None, return_trajectory=False):
        n, steps, seed, bounds, sampler = recipe.n, recipe.steps, recipe.seed, recipe.bounds, recipe.sampler
        self.calls.append(dict(backend=backend, n=n, steps=steps, seed=seed, bounds=bounds, sampler=sampler,
                               models_dir=models_dir))
        if self.fail:
            raise RuntimeError(self.fail)
        if bounds not in BOUNDS or (bounds == "draw" and backend == DATA):
            raise ValueError(f"bounds {bounds!r} not available on {backend}")  # as the real API does
        for step in range(steps):
            if callback is not None:
                callback({"i": step, "sigma": 1.0, "x": None, "denoised": None})
            if self.gate is not None:
                self.gate.wait(5)
        rng = np.random.default_rng(seed + zlib.crc32(backend.encode()) % 1000)
        fields = _fields(self.grid, rng, n, 0.0 if bounds != "raw" else 0.3)
        ds = xr.Dataset({k: (("sample", "y", "x"), v, VARIABLES[k].cf_attrs()) for k, v in fields.items()},
                        coords=self.grid.coords).assign_coords(sample=np.arange(n))
        ds.attrs.update(self.grid.attrs, backend=backend, bounds=bounds, seed=seed, steps=steps, sampler=sampler)
        if not return_trajectory:
            return ds
        guesses = xr.concat([ds] * steps, dim="step").assign_coords(step=np.arange(steps))
        state = rng.standard_normal((steps, n, 4, 8, 8)).astype(np.float32)
        return ds, Trajectory(backend, ds, guesses, state, np.linspace(80, 0.1, steps), tuple(range(4)))


@pytest.fixture()
def fake(g32) -> FakeGenerator:
    return FakeGenerator(g32)


@pytest.fixture(scope="module")
def reference(g32) -> analysis.ReferenceData:
    fields = _fields(g32, np.random.default_rng(42), 12, 0.0)
    ds = xr.Dataset({k: (("time", "y", "x"), v, VARIABLES[k].cf_attrs()) for k, v in fields.items()},
                    coords=g32.coords).assign_coords(time=np.arange(12).astype("datetime64[D]"))
    ds.attrs.update(g32.attrs, reference_kind="synthetic test data")
    return analysis.summarise_reference(ds, "test")


def make_state(fake, reference, registry: Registry | None = None, **kw) -> ExplorerState:
    loader_calls = []

    def loader(spec: str) -> analysis.ReferenceData:
        loader_calls.append(spec)
        if spec == "broken.nc":
            raise OSError("broken.nc: not a NetCDF file")
        return reference

    kw.setdefault("backends", [DATA, CENS])
    kw.setdefault("n", 3)
    kw.setdefault("steps", 4)
    state = ExplorerState(registry or fake_registry(), generate_fn=fake, reference_loader=loader,
                          sources={"broken": "broken.nc"}, **kw)
    state.loader_calls = loader_calls  # type: ignore[attr-defined]
    return state


# ---------------------------------------------------------------- backends come from the registry
def test_registry_drives_backends_defaults_and_datasets(fake, reference):
    state = ExplorerState(fake_registry(), generate_fn=fake, reference_loader=lambda spec: reference)
    assert state.param.dataset.objects == ["default", "other.nc"]
    assert state.param.backends.objects == [DATA, GAUSS, CENS]  # one data set at a time
    assert state.backends == [GAUSS, CENS]  # the configs' ``selected`` flags
    assert state.denoise_backend == CENS and state.reference == "default"
    assert state.colours()[CENS] == "#d95f02"
    state.generate()
    assert set(state.results) == {GAUSS, CENS} and fake.calls[0]["models_dir"] == Path("/nowhere")
    state.dataset = "other.nc"  # its backends next to its own reference, old results dropped
    assert state.param.backends.objects == [OTHER] and state.backends == [OTHER]
    assert state.reference == "other.nc" and state.results == {} and state.denoise_backend == OTHER
    with pytest.raises(ValueError):
        state.backends = [DATA]  # not a backend of this data set


def test_tiny_models_folder_drives_the_state(tiny_models, fake, reference):
    registry = discover(tiny_models)
    state = ExplorerState(registry, generate_fn=fake, reference_loader=lambda spec: reference)
    assert registry.names and state.param.backends.objects == registry.names
    assert state.backends == registry.default_selection("default")
    state.backends = registry.names
    state.bounds = "raw"
    state.n, state.steps = 2, 2
    state.generate()
    assert [c["backend"] for c in fake.calls] == registry.names
    assert {c["models_dir"] for c in fake.calls} == {registry.models_dir}


def test_an_empty_models_folder_still_gives_a_state(fake, reference):
    state = ExplorerState(Registry(Path("/empty"), {}), generate_fn=fake, reference_loader=lambda spec: reference)
    assert state.backends == [] and state.denoise_backend is None and state.reference == "default"
    assert state.generate() is None and "at least one backend" in state.message
    assert state.record_trajectory() is None and not fake.calls
    assert state.load_reference() and state.reference_data is reference  # the reference is still shown


# ---------------------------------------------------------------- one bounds rule, no fallback
def test_bounds_modes_say_why_draw_is_not_available():
    reg = fake_registry()
    modes = bounds_modes([reg.get(DATA), reg.get(CENS)])
    assert list(modes) == ["raw", "clamp", "draw"]
    assert modes["raw"] is None and modes["clamp"] is None
    assert DATA in modes["draw"] and "data space" in modes["draw"]
    assert bounds_modes([reg.get(GAUSS), reg.get(CENS)]) == {"raw": None, "clamp": None, "draw": None}


def test_an_unavailable_mode_is_refused_with_a_message_never_changed(fake, reference):
    state = make_state(fake, reference, bounds="clamp")
    state.generate()
    shown, calls = state.results, len(fake.calls)
    state.bounds = "draw"  # live toggle with the data-space backend selected
    assert state.bounds == "draw"  # not silently replaced by another mode
    assert state.message_level == "warning" and "decoder draw" in state.message and DATA in state.message
    assert state.results is shown and len(fake.calls) == calls  # nothing generated
    assert state.generate() is None and len(fake.calls) == calls
    assert state.bounds_problem() is not None
    state.backends = [GAUSS, CENS]  # every selected backend can draw now
    assert state.bounds_problem() is None
    state.generate()
    assert {c["bounds"] for c in fake.calls[calls:]} == {"draw"}
    state.backends = [DATA]  # choosing a backend that cannot draw is reported at once
    assert state.bounds == "draw" and "not available" in state.message


def test_every_backend_gets_the_chosen_mode(fake, reference):
    state = make_state(fake, reference, bounds="clamp", backends=[DATA, GAUSS, CENS])
    state.generate()
    assert {c["backend"]: c["bounds"] for c in fake.calls} == {DATA: "clamp", GAUSS: "clamp", CENS: "clamp"}
    assert state.applied_bounds() == {DATA: "clamp", GAUSS: "clamp", CENS: "clamp"}


def test_old_url_bounds_names_map_to_the_new_ones(fake, reference):
    state = make_state(fake, reference)
    read = state.param.bounds.deserialize
    assert [read(v) for v in ("none", "clip", "censored", "censored-sample", "raw")] == \
        ["raw", "clamp", "clamp", "draw", "raw"]
    with pytest.raises(ValueError):
        state.bounds = "censored"  # old names only come in through the URL


# ---------------------------------------------------------------- the results cache
def test_cache_evicts_least_recently_used_within_budget():
    cache = ResultCache(budget_bytes=1000)
    a, b, c = np.zeros(50), np.zeros(50), np.zeros(50)  # 400 bytes each
    assert cache.put("a", a) and cache.put("b", b)
    assert cache.nbytes == 800
    assert cache.get("a") is a  # a is now the most recently used
    cache.put("c", c)  # 1200 > 1000: evicts b, the least recently used
    assert cache.keys() == ["a", "c"] and "b" not in cache and cache.nbytes == 800
    assert not cache.put("huge", np.zeros(200))  # 1600 bytes alone exceed the budget
    assert cache.keys() == ["a", "c"]
    cache.put("a", np.zeros(10))  # replacing a key updates its size
    assert cache.nbytes == 480 and len(cache) == 2
    with pytest.raises(ValueError):
        ResultCache(0)


def test_approx_nbytes_counts_datasets_and_nested_containers(reference):
    arr = np.zeros((10, 10), dtype=np.float32)
    assert approx_nbytes({"x": [arr, (arr, arr)]}) == 3 * arr.nbytes
    assert approx_nbytes(reference) >= reference.ds.nbytes


def test_results_are_cached_by_key(fake, reference):
    cache = ResultCache(1 << 28)
    s1 = make_state(fake, reference, cache=cache)
    s1.generate()
    assert len(fake.calls) == 2 and len(cache) == 2
    recipe = Recipe(sampler="dpmpp-2m", steps=4, n=3, seed=0, bounds="clamp")
    assert set(cache.keys()) == {cache_key(DATA, recipe, "default"), cache_key(CENS, recipe, "default")}
    # another session on the same server reuses both results: no new generation
    s2 = make_state(fake, reference, cache=cache)
    s2.generate()
    assert len(fake.calls) == 2
    assert s2.results[DATA] is s1.results[DATA]
    # every part of the key matters
    for change in ({"seed": 1}, {"n": 2}, {"steps": 5}, {"sampler": "euler"}, {"bounds": "raw"}):
        before = len(fake.calls)
        s3 = make_state(fake, reference, cache=cache, backends=[DATA], **change)
        s3.generate()
        assert len(fake.calls) == before + 1, change


def test_bounds_toggle_regenerates_and_changes_violation_fraction(fake, reference):
    state = make_state(fake, reference, bounds="raw", backends=[CENS])
    state.generate()
    raw = state.violation_summary()[CENS]
    assert raw > 0.01
    state.bounds = "clamp"  # live toggle: regenerates because results are shown
    assert state.applied_bounds() == {CENS: "clamp"}
    assert state.violation_summary()[CENS] == 0.0
    assert format_fraction(0.0) == "0 %" and format_fraction(raw).endswith("%")


def test_result_analysis_matches_direct_statistics(fake, reference):
    state = make_state(fake, reference, backends=[DATA], bounds="raw")
    state.generate()
    res = state.results[DATA]
    samples = res.samples
    sic = samples["sic"].values
    ocean = samples["mask"].values == 1
    area = samples["cell_area"].values
    expected = [(area * ((s >= 0.15) & ocean)).sum() / 1e12 for s in sic]
    np.testing.assert_allclose(res.extent, expected, rtol=1e-6)
    miz = ((sic >= 0.15 - 1e-6) & (sic <= 0.80 + 1e-6)).mean(0)
    np.testing.assert_allclose(res.miz_frequency.values[ocean], miz[ocean], atol=1e-12)
    fracs = []
    for v in ("sit", "sic", "sid"):
        x = samples[v].values[:, ocean]
        var = VARIABLES[v]
        fracs.append(((x < var.lower - 1e-6) | (x > var.upper + 1e-6)).mean())
    assert res.beyond_fraction == pytest.approx(np.mean(fracs))
    assert set(res.scores) >= {"W1 extent [10⁶ km²]", "MIZ-frequency RMSE", "beyond bounds [%]"}


# ---------------------------------------------------------------- errors never lose results
def test_failed_generation_keeps_results_and_sets_message(fake, reference):
    state = make_state(fake, reference)
    state.generate()
    shown = state.results
    serial = state.message_serial
    fake.fail = "CUDA out of memory"
    state.seed = 7
    assert state.stale
    state.generate()
    assert state.results is shown
    assert state.message_level == "error" and "CUDA out of memory" in state.message
    assert state.message_serial == serial + 1 and not state.running


def test_bad_reference_is_a_message_and_keeps_the_old_one(fake, reference):
    state = make_state(fake, reference)
    assert state.load_reference()
    state.reference = "broken"
    assert state.reference_data is reference
    assert state.message_level == "error" and "broken.nc" in state.message
    assert state.loader_calls == ["default", "broken.nc"]  # only server-configured paths are opened
    with pytest.raises(ValueError):
        state.reference = "/etc/passwd"  # a path typed in the browser is not a valid choice


def test_absurd_parameters_are_rejected_by_param(fake, reference):
    state = make_state(fake, reference)
    for name, value in (("n", 0), ("n", 65), ("steps", 10_000), ("seed", -1), ("variable", "temperature"),
                        ("bounds", "sometimes"), ("backends", ["gan"])):
        with pytest.raises(ValueError):
            setattr(state, name, value)


# ---------------------------------------------------------------- threads and cancel
def test_generation_runs_on_executor_and_cancel_stops_it(fake, reference):
    fake.gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        state = make_state(fake, reference, executor=pool, steps=50)
        state.generate()
        assert state.running and state.poll()  # still running: the caller's thread was not blocked
        assert state.generate() is None and state.message_level == "warning"  # one job at a time
        state.cancel()
        fake.gate.set()
        pool.shutdown(wait=True)
    assert not state.poll()
    assert state.status == "cancelled" and not state.running and state.results == {}
    assert len(fake.calls) == 1  # the second backend never started
    assert fake.calls[0]["steps"] == 50


def test_progress_counts_sampler_steps(fake, reference):
    fake.gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        state = make_state(fake, reference, executor=pool, steps=10, backends=[DATA])
        job = state.generate()
        fake.gate.set()
        pool.shutdown(wait=True)
    assert job.done_steps == 10 and job.fraction == 1.0
    state.poll()
    assert state.progress == 1.0 and DATA in state.results and state.status.startswith("done")


def test_new_seed_changes_seed_deterministically(fake, reference):
    a, b = make_state(fake, reference), make_state(fake, reference)
    a.new_seed()
    b.new_seed()
    assert a.seed == b.seed != 0


# ---------------------------------------------------------------- map specs and replay
def test_specs_for_maps(fake, reference):
    state = make_state(fake, reference, backends=[DATA])
    state.generate()
    res = state.results[DATA]
    spec = analysis.result_spec(res, "sit", "member", 2, True)
    np.testing.assert_array_equal(spec.values, res.samples["sit"].isel(sample=2).values)
    assert spec.label == "sea-ice thickness [m]" and spec.miz is not None
    mean = analysis.result_spec(res, "sic", "mean", 0, False)
    np.testing.assert_allclose(mean.values, res.samples["sic"].mean("sample").values, rtol=1e-6)
    ref = analysis.reference_spec(reference, "sic", "member", 3, True)
    assert "1970-01-04" in ref.title
    spread = analysis.reference_spec(reference, "sic", "spread", 0, True)
    assert spread.label.startswith("sea-ice concentration spread")


def test_trajectory_replay(fake, reference):
    state = make_state(fake, reference, denoise_backend=GAUSS, steps=5, bounds="draw", backends=[GAUSS])
    job = state.record_trajectory()
    traj = state.trajectory
    assert job.kind == "trajectory" and job.done_steps == 5
    assert traj.n_steps == 5 and state.denoise_step == 5  # frames 0..4 the steps, 5 the finished sample
    assert traj.samples.sizes["sample"] == 1  # the app keeps the replay of one sample
    assert fake.calls[-1]["bounds"] == "draw"  # the chosen mode, as for the ensembles
    geometry = analysis.replay_geometry(traj)
    assert traj.latent and animate.noisy_field(traj, "sic", 0, geometry).shape == (8, 8)
    assert animate.guess_spec(traj, "sic", 5, geometry).title.endswith("finished sample")
    assert animate.guess_spec(traj, "sic", 4, geometry).title.endswith("step 4: guess of the final state")
    calls = len(fake.calls)
    state.record_trajectory()  # cached
    assert len(fake.calls) == calls and state.trajectory is traj
    z0 = traj.noisy(0)  # the scaled noisy state is what the network sees
    assert z0.std() == pytest.approx(traj.state[0, 0, 0].std() / np.sqrt(1 + traj.sigma[0] ** 2))
    state.denoise_backend = DATA  # a data-space backend cannot draw: refused, not substituted
    assert state.record_trajectory() is None and len(fake.calls) == calls and "not available" in state.message


def test_state_modules_do_not_import_panel_or_torch():
    code = ("import sys, seaice_explorer.ui.model.state, seaice_explorer.ui.model.analysis, seaice_explorer.ui.model.texts; "
            "print('panel' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_export_netcdf_round_trip_keeps_provenance(fake, reference, tmp_path):
    state = make_state(fake, reference, bounds="clamp")
    state.generate()
    ds = download.export_dataset(state.results, "default")
    path = tmp_path / "samples.nc"
    path.write_bytes(download.netcdf_bytes(ds))
    back = xr.open_dataset(path)
    assert list(back["backend"].values) == [DATA, CENS]
    assert back["sic"].dims == ("backend", "sample", "y", "x") and back.sizes["sample"] == 3
    assert back.attrs[f"bounds_{DATA}"] == "clamp" and back.attrs[f"bounds_{CENS}"] == "clamp"
    assert back.attrs["reference"] == "default" and back["sit"].attrs["units"] == "m"
    np.testing.assert_array_equal(back["sic"].sel(backend=DATA).values, state.results[DATA].samples["sic"].values)
    with pytest.raises(ValueError):
        download.export_dataset({}, "default")


def test_reference_loads_off_the_ui_thread_with_an_executor(fake, reference):
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        state = make_state(fake, reference, executor=pool)
        state.load_reference()
        slow = make_state(fake, reference).reference_loader

        def loader(spec):
            gate.wait(5)
            return slow(spec)

        state.reference_loader = loader
        state.reference = "broken"  # returns at once: the load runs on the pool
        assert state.status.startswith("loading the reference") and state.poll()
        gate.set()
        pool.shutdown(wait=True)
    assert not state.poll()
    assert state.message_level == "error" and "broken.nc" in state.message
    assert state.reference_data is reference  # the failed load kept the previous reference


def test_generate_waits_for_a_reference_being_loaded(fake, reference):
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        state = make_state(fake, reference, executor=pool)
        state.load_reference()
        fast = state.reference_loader
        state.reference_loader = lambda spec: (gate.wait(5), fast("default"))[1]
        state.reference = "broken"  # a slow (but here successful) load
        assert state.generate() is None and not fake.calls  # deferred, not scored against the old one
        gate.set()
        for _ in range(500):  # the UI's periodic poll
            if not state.poll():
                break
            threading.Event().wait(0.02)
    assert [c["backend"] for c in fake.calls] == [DATA, CENS]  # started once loaded
    assert set(state.results) == {DATA, CENS}


def test_a_single_variable_dataset_offers_only_its_variable(tiny_models) -> None:
    """Switching to a data set whose backends model sic alone (observations) offers sic alone."""
    import dataclasses

    from seaice_explorer.registry import ModelEntry, Registry, discover

    reg = discover(tiny_models)
    five = reg.get("ldm-censored")
    obs = ModelEntry("obs-dm", five.path, dataclasses.replace(reg.get("dm").config, dataset="obs", variables=("sic",),
                                                                mean=(0.5,), std=(0.5,)))
    both = Registry(reg.models_dir, {**reg.entries, "obs-dm": obs})
    state = ExplorerState(both, auto_regenerate=False, variable="sit")
    assert state.param.variable.objects == list(STATE_VARIABLES) and state.variable == "sit"
    state.dataset = "obs"
    assert state.param.variable.objects == ["sic"] and state.variable == "sic"
    assert state.backends == ["obs-dm"] and state.reference == "obs"
    state.dataset = "default"
    assert state.param.variable.objects == list(STATE_VARIABLES)


def test_timing_view_measures_the_latent_speed_up(tiny_models) -> None:
    """The live timing: per backend the network evaluations and seconds; latent ÷ data-space speed-up."""
    from types import SimpleNamespace

    from seaice_explorer.registry import discover
    from seaice_explorer.ui.model import timing

    reg = discover(tiny_models)

    def result(nfe: int, sampling: float, decode: float, n: int = 4) -> SimpleNamespace:
        attrs = {"nfe": nfe, "sampling_seconds": sampling, "decode_seconds": decode, "device": "cpu"}
        return SimpleNamespace(samples=SimpleNamespace(attrs=attrs, sizes={"sample": n}))

    only_latent = timing.costs({"ldm-gaussian": result(39, 1.0, 0.2)}, reg)
    assert timing.speedup(only_latent) is None and "Select a data-space" in timing.timing_markdown(only_latent)
    both = timing.costs({"dm": result(39, 12.0, 0.0), "ldm-gaussian": result(39, 1.0, 0.2)}, reg)
    assert [c.kind for c in both] == ["data", "latent"]
    assert timing.speedup(both) == pytest.approx(12.0 / 1.2)
    text = timing.timing_markdown(both)
    assert "10.0× faster" in text and "| `dm` | 39 | 12.00 |" in text and "25×" in text


def test_a_reference_loaded_off_the_page_is_pushed_to_it(fake, reference):
    """No timer: the load ends on the service's worker, which calls the page's push; its poll applies it."""
    from seaice_explorer.ui.model.jobs import SessionQueue
    from seaice_explorer.ui.model.service import GenerationService

    service = GenerationService(workers=1)
    try:
        state = make_state(fake, reference, executor=SessionQueue(service, "page"))
        state.load_reference()
        pushed = threading.Event()
        state.push = lambda: (state.poll(), pushed.set())
        state.reference = "broken"  # loads on the service's worker
        assert pushed.wait(30)
        assert state._loading is None and state.message_level == "error" and "broken.nc" in state.message
    finally:
        service.shutdown(5.0)


def test_a_generation_cancelled_before_it_ran_is_pushed_to_the_page(fake, reference):
    """Cancel while the job still waits in the page's queue: it never runs, and the page is told (not left running)."""
    from seaice_explorer.ui.model.jobs import SessionQueue
    from seaice_explorer.ui.model.service import GenerationService

    service = GenerationService(workers=1)
    try:
        state = make_state(fake, reference, executor=SessionQueue(service, "page"))
        state.load_reference()
        hold, release = threading.Event(), threading.Event()
        service.submit("page", lambda t: (hold.set(), release.wait(10)), replace=False)  # the page's turn is busy
        assert hold.wait(10)
        ended = threading.Event()
        state.push = lambda: ended.set() if not state.poll() else None
        state.seed = 41
        job = state.generate()  # queued behind the busy turn
        assert state.running and not job.finished
        state.cancel()
        release.set()
        assert ended.wait(10)  # pushed although the worker never ran it
        assert job.cancelled and not state.running and state.status == "cancelled"
        assert not any(c["seed"] == 41 for c in fake.calls)
    finally:
        service.shutdown(5.0)
