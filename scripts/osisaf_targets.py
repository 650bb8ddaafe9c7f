"""Issue 11's targets, read from an evaluation table (default docs/evaluation-osisaf/table.csv).

Each backend at its native bounds (raw; clamp for the censored decoder) against the 2019 reference
row: extent mean within 5 %, extent 10 % and 90 % quantiles within 10 %; extent W1, MIZ-area W1
and MIZ-frequency RMSE at most 1.5x the baseline row's; the share of ocean cells at 0 and at 1.
Usage: python scripts/osisaf_targets.py [TABLE.csv]   (prints a Markdown table)
"""

from __future__ import annotations

import sys

import pandas as pd

table = pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else "docs/evaluation-osisaf/table.csv")
ref = table[table.backend == "reference"].iloc[0]
base = table[table.backend.str.startswith("baseline")].iloc[0]
native = table[(table.kind.isin(["data", "latent"])) & (table.bounds == table.decoder.map(
    lambda d: "clamp" if d == "censored" else "raw"))]


def rel(value: float, target: float) -> str:
    return f"{100 * (value / target - 1):+.1f} %"


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


print("| backend | extent mean | p10 | p90 | extent W1 | MIZ-area W1 | MIZ-freq RMSE | sic at 0 / at 1 (%) |")
print("|---|---|---|---|---|---|---|---|")
print(f"| 2019 observations | {ref.extent_mean_1e6km2:.2f} | {ref.extent_p10_1e6km2:.2f} | {ref.extent_p90_1e6km2:.2f} "
      f"| – | – | – | {ref.sic_at_0_pct:.1f} / {ref.sic_at_1_pct:.1f} |")
print(f"| baseline (2016–2018 days), limit 1.5× | {base.extent_mean_1e6km2:.2f} | – | – | {base.extent_w1_1e6km2:.3f} "
      f"(≤ {1.5 * base.extent_w1_1e6km2:.3f}) | {base.miz_area_w1_1e6km2:.3f} (≤ {1.5 * base.miz_area_w1_1e6km2:.3f}) "
      f"| {base.miz_freq_rmse:.4f} (≤ {1.5 * base.miz_freq_rmse:.4f}) | {base.sic_at_0_pct:.1f} / {base.sic_at_1_pct:.1f} |")
for _, r in native.iterrows():
    cells = [
        f"{r.extent_mean_1e6km2:.2f} ({rel(r.extent_mean_1e6km2, ref.extent_mean_1e6km2)}, "
        f"{mark(abs(r.extent_mean_1e6km2 / ref.extent_mean_1e6km2 - 1) <= 0.05)})",
        f"{r.extent_p10_1e6km2:.2f} ({rel(r.extent_p10_1e6km2, ref.extent_p10_1e6km2)}, "
        f"{mark(abs(r.extent_p10_1e6km2 / ref.extent_p10_1e6km2 - 1) <= 0.10)})",
        f"{r.extent_p90_1e6km2:.2f} ({rel(r.extent_p90_1e6km2, ref.extent_p90_1e6km2)}, "
        f"{mark(abs(r.extent_p90_1e6km2 / ref.extent_p90_1e6km2 - 1) <= 0.10)})",
    ]
    for col, fmt in (("extent_w1_1e6km2", ".3f"), ("miz_area_w1_1e6km2", ".3f"), ("miz_freq_rmse", ".4f")):
        cells.append(f"{r[col]:{fmt}} ({r[col] / base[col]:.2f}×, {mark(r[col] <= 1.5 * base[col])})")
    cells.append(f"{r.sic_at_0_pct:.1f} / {r.sic_at_1_pct:.1f}")
    print(f"| {r.backend}/{r.bounds} | " + " | ".join(cells) + " |")
