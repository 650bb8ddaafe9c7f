"""Dashboard state in plain pytest: bounds rule, LRU by bytes, cache keys, errors, cancel, threads."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr

from seaice_explorer import grid
from seaice_explorer.ui import analysis
from seaice_explorer.ui.state import (
    BACKENDS,
    ByteLRU,
    ExplorerState,
    GenerationKey,
    approx_nbytes,
    bounds_rule,
    effective_bounds,
    format_fraction,
)
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

SIZE = 32


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

    def __call__(self, backend, n=16, steps=20, seed=0, bounds="none", sampler="heun", device="auto", *,
                 callback=None, return_trajectory=False):
        self.calls.append(dict(backend=backend, n=n, steps=steps, seed=seed, bounds=bounds, sampler=sampler))
        if self.fail:
            raise RuntimeError(self.fail)
        if bounds.startswith("censored") and backend != "ldm-censored":
            raise ValueError("censored needs ldm-censored")  # as the real API does
        for step in range(steps):
            if callback is not None:
                callback(step, 1.0, None, None)
            if self.gate is not None:
                self.gate.wait(5)
        rng = np.random.default_rng(seed + BACKENDS.index(backend))
        fields = _fields(self.grid, rng, n, 0.0 if bounds != "none" else 0.3)
        ds = xr.Dataset({k: (("sample", "y", "x"), v, VARIABLES[k].cf_attrs()) for k, v in fields.items()},
                        coords=self.grid.coords).assign_coords(sample=np.arange(n))
        ds.attrs.update(self.grid.attrs, backend=backend, bounds=bounds, seed=seed, steps=steps, sampler=sampler)
        if not return_trajectory:
            return ds
        traj = xr.concat([ds] * steps, dim="step")
        traj["state"] = (("step", "sample", "channel", "state_y", "state_x"),
                         rng.standard_normal((steps, n, 4, 8, 8)).astype(np.float32))
        traj = traj.assign_coords(step=np.arange(steps), channel=np.arange(4),
                                  sigma=("step", np.linspace(80, 0.1, steps)))
        return ds, traj


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


def make_state(fake, reference, **kw) -> ExplorerState:
    loader_calls = []

    def loader(spec: str) -> analysis.ReferenceData:
        loader_calls.append(spec)
        if spec == "broken.nc":
            raise OSError("broken.nc: not a NetCDF file")
        return reference

    kw.setdefault("backends", ["dm", "ldm-censored"])
    kw.setdefault("n", 3)
    kw.setdefault("steps", 4)
    state = ExplorerState(generate_fn=fake, reference_loader=loader,
                          sources={"default": "default", "broken": "broken.nc"}, **kw)
    state.loader_calls = loader_calls  # type: ignore[attr-defined]
    return state


# ---------------------------------------------------------------- bounds rule
def test_bounds_rule_per_backend():
    assert effective_bounds("ldm-censored", "censored") == "censored"
    assert effective_bounds("dm", "censored") == "clip"
    assert effective_bounds("ldm-gaussian", "censored") == "clip"
    for b in BACKENDS:
        assert effective_bounds(b, "none") == "none" and effective_bounds(b, "clip") == "clip"
    assert bounds_rule(["dm", "ldm-censored"], "censored") == [("dm", "clip", True),
                                                               ("ldm-censored", "censored", False)]
    with pytest.raises(ValueError):
        effective_bounds("gan", "none")
    with pytest.raises(ValueError):
        effective_bounds("dm", "sometimes")


def test_generation_uses_the_bounds_rule(fake, reference):
    state = make_state(fake, reference, bounds="censored")
    state.generate()
    assert {c["backend"]: c["bounds"] for c in fake.calls} == {"dm": "clip", "ldm-censored": "censored"}
    assert state.applied_bounds() == {"dm": "clip", "ldm-censored": "censored"}


# ---------------------------------------------------------------- LRU by bytes
def test_lru_evicts_least_recently_used_within_budget():
    cache = ByteLRU(budget_bytes=1000)
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
        ByteLRU(0)


def test_approx_nbytes_counts_datasets_and_nested_containers(reference):
    arr = np.zeros((10, 10), dtype=np.float32)
    assert approx_nbytes({"x": [arr, (arr, arr)]}) == 3 * arr.nbytes
    assert approx_nbytes(reference) >= reference.ds.nbytes


def test_results_are_cached_by_key(fake, reference):
    cache = ByteLRU(1 << 28)
    s1 = make_state(fake, reference, cache=cache)
    s1.generate()
    assert len(fake.calls) == 2 and len(cache) == 2
    assert set(cache.keys()) == {GenerationKey("dm", 3, 4, "heun", 0, "clip", "default"),
                                 GenerationKey("ldm-censored", 3, 4, "heun", 0, "censored", "default")}
    # another session on the same server reuses both results: no new generation
    s2 = make_state(fake, reference, cache=cache)
    s2.generate()
    assert len(fake.calls) == 2
    assert s2.results["dm"] is s1.results["dm"]
    # every part of the key matters
    for change in ({"seed": 1}, {"n": 2}, {"steps": 5}, {"sampler": "euler"}):
        before = len(fake.calls)
        s3 = make_state(fake, reference, cache=cache, backends=["dm"], **change)
        s3.generate()
        assert len(fake.calls) == before + 1, change


def test_bounds_toggle_regenerates_and_changes_violation_fraction(fake, reference):
    state = make_state(fake, reference, bounds="none", backends=["ldm-censored"])
    state.generate()
    raw = state.violation_summary()["ldm-censored"]
    assert raw > 0.01
    state.bounds = "censored"  # live toggle: regenerates because results are shown
    assert state.applied_bounds() == {"ldm-censored": "censored"}
    assert state.violation_summary()["ldm-censored"] == 0.0
    assert format_fraction(0.0) == "0 %" and format_fraction(raw).endswith("%")


def test_result_analysis_matches_direct_statistics(fake, reference):
    state = make_state(fake, reference, backends=["dm"], bounds="none")
    state.generate()
    res = state.results["dm"]
    samples = res.samples
    sic = samples["sic"].values
    ocean = samples["mask"].values == 1
    area = samples["cell_area"].values
    expected = [(area * ((s >= 0.15) & ocean)).sum() / 1e12 for s in sic]
    np.testing.assert_allclose(res.extent, expected, rtol=1e-6)
    # MIZ frequency by hand
    miz = ((sic >= 0.15 - 1e-6) & (sic <= 0.80 + 1e-6)).mean(0)
    np.testing.assert_allclose(res.miz_frequency.values[ocean], miz[ocean], atol=1e-12)
    # violation fraction by hand, averaged over bounded variables
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
    for name, value in (("n", 0), ("n", 65), ("steps", 10_000), ("seed", -1), ("variable", "temperature")):
        with pytest.raises(ValueError):
            setattr(state, name, value)


def test_no_backend_is_a_warning(fake, reference):
    state = make_state(fake, reference, backends=[])
    assert state.generate() is None
    assert state.message_level == "warning" and not fake.calls


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
        state = make_state(fake, reference, executor=pool, steps=10, backends=["dm"])
        job = state.generate()
        fake.gate.set()
        pool.shutdown(wait=True)
    assert job.done_steps == 10 and job.fraction == 1.0
    state.poll()
    assert state.progress == 1.0 and "dm" in state.results and state.status.startswith("done")


def test_new_seed_changes_seed_deterministically(fake, reference):
    a, b = make_state(fake, reference), make_state(fake, reference)
    a.new_seed()
    b.new_seed()
    assert a.seed == b.seed != 0


# ---------------------------------------------------------------- map specs and replay
def test_specs_for_maps(fake, reference):
    state = make_state(fake, reference, backends=["dm"])
    state.generate()
    res = state.results["dm"]
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
    state = make_state(fake, reference, denoise_backend="ldm-gaussian", steps=5)
    job = state.record_trajectory()
    traj = state.trajectory
    assert job.kind == "trajectory" and job.done_steps == 5
    assert traj.n_steps == 6 and state.denoise_step == 5  # 5 steps + the finished sample
    assert fake.calls[-1]["bounds"] == "clip"  # the bounds rule applies to the replay too
    assert traj.latent and traj.noisy_state(0).shape == (8, 8)
    assert traj.decoded_spec("sic", 5).title.endswith("finished sample")
    calls = len(fake.calls)
    state.record_trajectory()  # cached
    assert len(fake.calls) == calls and state.trajectory is traj
    # the scaled noisy state is what the network sees: unit variance at every noise level
    z0 = traj.noisy_state(0)
    assert z0.std() == pytest.approx(traj.state[0, 0].std() / np.sqrt(1 + traj.sigma[0] ** 2))


def test_state_module_does_not_import_panel():
    code = "import sys, seaice_explorer.ui.state, seaice_explorer.ui.analysis; print('panel' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_netcdf_round_trip_keeps_provenance(fake, reference, tmp_path):
    state = make_state(fake, reference, bounds="censored")
    state.generate()
    ds = analysis.export_dataset(state.results, "default")
    path = tmp_path / "samples.nc"
    path.write_bytes(analysis.netcdf_bytes(ds))
    back = xr.open_dataset(path)
    assert list(back["backend"].values) == ["dm", "ldm-censored"]
    assert back["sic"].dims == ("backend", "sample", "y", "x") and back.sizes["sample"] == 3
    assert back.attrs["bounds_dm"] == "clip" and back.attrs["bounds_ldm-censored"] == "censored"
    assert back.attrs["reference"] == "default" and back["sit"].attrs["units"] == "m"
    np.testing.assert_array_equal(back["sic"].sel(backend="dm").values, state.results["dm"].samples["sic"].values)
    with pytest.raises(ValueError):
        analysis.export_dataset({}, "default")


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
    assert [c["backend"] for c in fake.calls] == ["dm", "ldm-censored"]  # started once loaded
    assert set(state.results) == {"dm", "ldm-censored"}
