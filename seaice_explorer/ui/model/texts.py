"""Plain-language texts of the dashboard: short enough to read aloud in a classroom, and honest.

Markdown strings and the small functions that fill them in (no Panel), so they can be reviewed
and tested like any other data. No backend is named here: they come from the registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ...recipe import PAPER, QUICK
from ...registry import BOUNDS, BOUNDS_LABELS, ModelEntry, Registry

#: The app's tabs, in order: the one table of their names (app.py lays them out, the tour opens them).
MAPS, MIZ, SMOOTHING, DENOISE, ABOUT = "Maps", "MIZ statistics", "Smoothing", "Watch it denoise", "About"
OBSERVATIONS = "Observations"
TABS = (MAPS, MIZ, SMOOTHING, DENOISE, ABOUT, OBSERVATIONS)

INTRO = """\
**Sea-ice explorer** lets you generate Arctic sea-ice states with diffusion models and
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

BOUNDS_HELP = """\
### What are physical bounds?
Some numbers cannot go past a limit: ice cannot be thinner than 0 m, and a concentration (how
much of a cell is covered by ice) must lie between 0 % and 100 %. A neural network does not know
that, and may produce -3 % or 104 %. There are three ways to show its output:
**raw mean** is the output as it comes, mistakes included; **clamp to bounds** cuts values back
to the limit, clamp(μ, l, u); **decoder draw** (latent models only) draws one map from the
decoder's own spread instead of showing its mean.

For the model with the **censored decoder** the bounded output is also clamp(μ, l, u): exactly
the same projection as *clamp to bounds* on the other models. Where the censored and Gaussian
models really differ is in what their decoder *learned*: the censored decoder puts weight
exactly on the bounds (open water at 0 %, pack ice at 100 %), so more of its values sit right at
a bound, not just near it. The *at the bounds* statistics show that difference.
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

OBSERVATIONS_HELP = """\
### Filling the gaps
Satellites never see everything: there is a hole around the pole, gaps between their passes, and
cloudy or broken data. Here we take one day of the record named below, **hide part of it** (the grey cells of the
*observed* map) and ask a diffusion model what the hidden sea ice probably looked like, given what
it can see. It answers with an **ensemble**: many different maps that all agree with the
observations. Where the members agree, the *spread* is small and the *probability of ice* is near
0 % or 100 %; where they disagree, the model is unsure. The true map of that day is **held out**:
guess first, then press *Reveal truth* and compare. The table scores the ensemble in the hidden
cells against two simple rivals: the *climatology* (the same time of year in other years) and
*inpainting* (smoothly filling the gap from its edges). Lower CRPS and IIEE (the area where the
ice edge is wrong) are better; *coverage* is how often the truth lies within the members' range,
and an honest ensemble reaches the *calibrated* value beside it.
"""

NO_OBSERVATION = """\
Choose a day, which cells to hide and a model, then press **Run**: the maps appear here.
A box can be drawn on the observed map (hold **shift** and drag) to hide your own region.
"""

#: The hidden-cell choices of the Observations tab: label -> mask name (``data.masks.MASKS`` and the drawn box).
MASK_LABELS = {"ice-edge box (1,000 km)": "edge_box", "pole hole (north of 84.5°N)": "pole_hole",
               "swath gap (a 500 km band)": "swath_gap", "sparse (5 % of cells seen)": "sparse",
               "my box (shift + drag on the observed map)": "drawn box"}


def edges_caption(revealed: bool) -> str:
    """What the lines on the probability map are."""
    truth = ("the **black** line the truth's." if revealed else
             "the truth's edge appears in **black** once revealed.")
    return ("On the *probability of ice* map the **orange** line is the 15 % ice edge of the ensemble median; "
            + truth)


def observations_source(kind: str, period: str, *, held_out: bool = False, credit: str = "") -> str:
    """Where the observed days come from, said plainly (``kind``: the reference's own description)."""
    if "synthetic" in kind.lower():
        return (f"The days come from **{kind}**, {period}: they are **SYNTHETIC**, made by this project's "
                "generator, not observations of the real Arctic.")
    held = ", a year the models never trained on" if held_out else ""
    return f"The days come from **{kind}**, {period}{held}." + (f" {credit}." if credit else "")


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
- **The shipped models** (listed below, read from `models/*/config.json`) were trained by this
  project: `dm`, `ldm-gaussian` and `ldm-censored` on that synthetic reference (a demonstration of
  the pipeline: what they show is about the generator's formulas, not the Arctic), and the
  observed family `osisaf-*` on real satellite concentration (below). Their model cards in
  `models/*/README.md` give the data, the command, the hardware, the training time and the scores.
  Your own trained models appear here when the server starts with
  `panel serve app.py --args --models DIR`.
- **Real neXtSIM output** can be used as the reference: start the server with
  `panel serve app.py --args --reference /path/to/nextsim_output.nc` (a neXtSIM / NEMO-CREG025
  file with `sit`, `sic`, `damage`, `siu`, `siv`; add `--grid ds_auxiliary.nc` when the file
  carries no latitude/longitude). The file is read on the server; nothing typed in the browser
  is ever opened.
- **Real satellite observations are bundled too**: every day of 2016–2019 of the EUMETSAT OSI SAF
  sea-ice concentration record (OSI-450-a), measured from space by microwave radiometers and
  averaged onto the same 50 km grid (`data/osisaf_sic_2016_2019_128.nc`; Copyright EUMETSAT).
  Satellites see concentration only, so models of this data set (`osisaf-*`, trained on 2016–2018
  and judged on 2019) generate concentration only. They are shipped and appear under their own
  data set; the data set can also be opened by name (`osisaf`, `osisaf:2019`).
- **Other observed files** (OSI SAF OSI-450, NSIDC CDR or NASA Team) can be added with
  `--observed PATH` (repeatable).
- Generation and all statistics run on this server; the page makes no requests to the internet.

### The study
Finn, T. S. et al. (2024). *Towards diffusion models for large-scale sea-ice modelling.*
arXiv:2406.18417. This explorer is an
independent re-implementation for teaching and exploration, not the authors' code.
"""


#: Marks a score whose value lies outside its interval (see :data:`SCORES_HELP`).
OUTSIDE_MARK = "†"

SCORES_HELP = """\
#### Scores against the reference
Each score of a model comes with its **90 % bootstrap interval** in brackets (and as error bars below):
where the score lands in 90 % of redraws of as many samples and reference days, each drawn with
replacement from those shown. Two models whose intervals overlap a lot cannot be told apart with this
many samples. **†** The value lies outside its interval: with few samples a distance between two sets
comes out too large, and the redraws, which repeat samples, come out larger still; more samples make
both smaller.
"""


def format_interval(value: float, low: float | None = None, high: float | None = None) -> str:
    """A score with its interval, e.g. ``0.132 (0.128–0.141)``, marked with :data:`OUTSIDE_MARK` when the
    value lies outside it; the value alone without a finite interval."""
    if not math.isfinite(value):
        return "–"
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.3g}"
    outside = "" if low <= value <= high else OUTSIDE_MARK
    return f"{value:.3g}{outside} ({low:.3g}–{high:.3g})"


def format_fraction(value: float) -> str:
    """A fraction as a percentage with sensible precision (``0 %`` exactly when zero)."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0 %"
    pct = 100 * value
    return f"{pct:.2f} %" if pct >= 0.01 else "< 0.01 %"


def bounds_markdown(mode: str, modes: Mapping[str, str | None], entries: Sequence[ModelEntry]) -> str:
    """The chosen bounds mode, what it does, and why the other modes are not offered (if so)."""
    if not entries:
        return "_No backend selected._"
    lines = [f"**{BOUNDS_LABELS[mode]}**: {BOUNDS[mode].split(': ', 1)[-1]}"]
    if modes.get(mode):
        lines.append(f"- ⚠ **not available**: {modes[mode]}. Generate is refused until you pick another mode.")
    lines += [f"- _{BOUNDS_LABELS[m]}_ not offered: {why}" for m, why in modes.items() if why and m != mode]
    if mode == "clamp":
        lines += [f"- `{e.name}`: clamp(μ, l, u) is its censored decoder's point estimate (the same projection)"
                  for e in entries if e.decoder == "censored"]
    return "\n".join(lines)


def models_markdown(registry: Registry) -> str:
    """The backends of the models directory and the folders that could not be read."""
    lines = [f"### Models in `{registry.models_dir}`"]
    for e in registry.entries.values():
        decoder = "data space, no decoder" if e.decoder == "none" else f"latent, {e.decoder} decoder"
        lines.append(f"- `{e.name}`: {e.label} ({decoder}); data set **{e.dataset}**; variables "
                     f"{', '.join(e.variables)}")
    err = registry.unusable()
    if err is not None:
        lines.append(f"- **No backend found:** {err.problem}. {err.fix} (start the server with `--models DIR`).")
    lines += [f"- ⚠ `{folder}` could not be used: {why}" for folder, why in registry.broken.items()]
    return "\n".join(lines)


def registry_notice(registry: Registry) -> str:
    """The sidebar's warning: which model folders were refused and why, or why no backend is offered;
    "" when every folder works."""
    err = registry.unusable()
    if not registry.broken:
        return "" if err is None else f"**No backend.** {err.problem}. {err.fix}."
    head = ("**No usable model:** every model folder was refused" if err is not None else
            f"**{len(registry.broken)} model folder{'s' if len(registry.broken) > 1 else ''} refused**")
    lines = [f"{head} (more in the About tab):"]
    lines += [f"- `{folder}`: {why}" for folder, why in registry.broken.items()]
    return "\n".join(lines)


def recipes_markdown() -> str:
    """The two named run settings, and why the app's default differs from the command line's."""
    return ("### Run settings\n"
            f"- **Here (QUICK):** {QUICK.describe()}, {QUICK.n} samples, bounds {QUICK.bounds}: a page answers in "
            "seconds on a small CPU.\n"
            f"- **The command line and the reports (PAPER):** {PAPER.describe()}, the paper's sampler. "
            "`seaice-explorer generate --like FILE.nc` reruns what a file records.")
