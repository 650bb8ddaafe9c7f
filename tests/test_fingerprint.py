"""The shipped models generate the same fields as before the redesign (within 1e-5), from a stored fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seaice_explorer.diffusion.generate import generate

FINGERPRINT = json.loads((Path(__file__).parent / "data" / "fingerprint_shipped.json").read_text())["settings"]


@pytest.mark.parametrize("setting", sorted(FINGERPRINT))
def test_shipped_models_reproduce_their_fingerprint(setting: str) -> None:
    backend, bounds = setting.split("/")
    ds = generate(backend, n=2, steps=3, seed=0, bounds=bounds, device="cpu", precision="float32")
    assert ds.attrs["bounds"] == bounds
    for name, expected in FINGERPRINT[setting].items():
        values = ds[name].values.astype(np.float64)  # (2, 128, 128), NaN on land
        np.testing.assert_allclose(values[:, ::32, ::32], np.array(expected["cells"], dtype=np.float64),
                                   atol=1e-4, rtol=1e-4, err_msg=f"{setting} {name}")  # any thread count
        assert np.nansum(values) == pytest.approx(expected["sum"], rel=1e-5, abs=1e-3)
        assert np.nanstd(values) == pytest.approx(expected["std"], rel=1e-5)
