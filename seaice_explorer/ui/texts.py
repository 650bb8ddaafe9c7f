"""Plain-language texts of the dashboard: short enough to read aloud in a classroom, and honest.

Markdown strings only (no Panel), so they can be reviewed and tested like any other data.
"""

from __future__ import annotations

INTRO = """\
**Sea-ice explorer** lets you generate Arctic sea-ice states with three diffusion models and
compare them with a reference, as in *Finn et al. (2024), Towards diffusion models for
large-scale sea-ice modelling*. Pick the models and settings on the left and press **Generate**.
"""

DIFFUSION = """\
### What is a diffusion model?
Imagine taking a map of sea ice and adding a little random noise to it, again and again, until
nothing is left but static, like an untuned TV. A diffusion model is a neural network trained to
run that film **backwards**: given a noisy map, it guesses what the clean map looked like. Start
from pure noise, take many small clean-up steps, and a brand-new, realistic map of sea ice
appears. Each *step* of the Step slider is one of those clean-up steps; the *seed* decides which
noise we start from, so the same seed always gives the same ice.
"""

LATENT = """\
### What is latent space?
Cleaning up a full map is slow. The *latent* models first learn to **compress** a map into a
much smaller set of numbers (here 8 small 32 × 32 grids instead of five 128 × 128 maps), like a
zip file that keeps what matters. The diffusion runs in that small space, which is much faster,
and a *decoder* turns the result back into a map. The left picture shows the compressed (latent)
numbers while they are being cleaned; the right picture shows what they decode to. The price:
fine details can get smoothed out — the **Smoothing** tab shows how much.
"""

BOUNDS = """\
### What are physical bounds?
Some numbers cannot go past a limit: ice cannot be thinner than 0 m, and a concentration (how
much of a cell is covered by ice) must lie between 0 % and 100 %. A neural network does not know
that, and may produce -3 % or 104 %. There are three ways to handle it:
**none** shows the raw output with its mistakes; **clip** cuts values back to the limit
afterwards; **censored** uses a decoder trained to *know* about the limits, so a value sitting
exactly at 0 or 100 % is an answer it can give on purpose (only the `ldm-censored` model has it —
the other models then use *clip*).
"""

MIZ = """\
### What is the marginal ice zone (MIZ)?
The **marginal ice zone** is the ragged edge of the ice pack, where the sea is between 15 % and
80 % covered by ice. It is where waves break up the floes, where ships and animals meet the ice,
and it is hard for models to get right. On the maps the **yellow** line marks 15 % (the ice
edge) and the **red** line marks 80 %; the MIZ lies between them.
"""

MAPS_HELP = """\
Maps are polar, centred on the North Pole, in the grid's own projection (EASE2-North equal-area).
Land is beige, the coastline is drawn from the land mask; grey means no data. The **yellow** line
is sea-ice concentration 0.15 (the ice edge), the **red** line 0.80: the marginal ice zone lies
between them. Scroll to zoom and drag to pan — all maps move together. Hover over a map to read
the value, latitude and longitude.
"""

MIZ_HELP = """\
**MIZ frequency** is how often each place is in the marginal ice zone: over the samples of a
model, or over all days of the reference. The difference maps show where a model has too much
(red) or too little (blue) MIZ. The histograms compare the whole distribution of ice extent and
MIZ area; the *W1* scores measure how far apart two distributions are (0 = identical).
"""

SMOOTHING_HELP = """\
A **power spectrum** tells how much of a map's variation happens at each scale, from basin-wide
patterns (left) to the smallest details the grid can hold (right). If a model's curve drops below
the reference's on the right, its maps are **smoother** than reality — the paper found this for
the latent models.
"""

NO_RESULTS = """\
Nothing generated yet: choose models and settings on the left and press **Generate**. The
reference is shown meanwhile.
"""

ABOUT = """\
### About the data — stated honestly
- **The default reference is synthetic.** It is this project's own *neXtSIM-like* data set:
  730 daily states on a 128 × 128 EASE2-North grid (50 km), made by a procedural generator with
  the real Arctic land mask and plausible seasonal ice. It is **not neXtSIM output** and not
  observations. It exists so the explorer works offline, out of the box, with no download.
- **The shipped models** (`dm`, `ldm-gaussian`, `ldm-censored`) were trained by this project on
  that synthetic reference; their model cards in `models/*/README.md` give the data, the
  command, the hardware, the training time and the scores. They have learnt the synthetic
  reference, so they say nothing yet about real sea ice.
- **Real neXtSIM output** can be used as the reference: start the server with
  `panel serve app.py --args --reference /path/to/nextsim_output.nc` (a neXtSIM / NEMO-CREG025
  file with `sit`, `sic`, `damage`, `siu`, `siv`; add `--grid ds_auxiliary.nc` when the file
  carries no latitude/longitude). The file is read on the server; nothing typed in the browser
  is ever opened.
- **Observed sea-ice concentration** (OSI SAF OSI-450, NSIDC CDR or NASA Team files) can be
  added the same way with `--observed PATH` (repeatable). Observations have concentration only.
- Generation and all statistics run on this server; the page makes no requests to the internet.

### The study
Finn, T. S. et al. (2024). *Towards diffusion models for large-scale sea-ice modelling.*
arXiv:2406.18417. This explorer is an
independent re-implementation for teaching and exploration, not the authors' code.
"""


def bounds_rule_markdown(rows: list[tuple[str, str, bool]], requested: str) -> str:
    """The bounds rule, per selected backend, as a short Markdown list."""
    if not rows:
        return "_No backend selected._"
    lines = [f"Requested: **{requested}**"]
    for backend, applied, fell_back in rows:
        note = " (no censored decoder: falls back to clip)" if fell_back else ""
        lines.append(f"- `{backend}` → **{applied}**{note}")
    return "\n".join(lines)
