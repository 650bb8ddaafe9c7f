"""The guided tour's eight stops: what each shows, picked from the registry by kind and decoder (no Panel).

A stop names its data set, backends, bounds, replayed backend and the app tab that explores it;
:mod:`.story` says it in two or three sentences and :mod:`.content` draws its picture, once per
server. The finding stops show the evaluation report's own summaries (the samples its verdicts
rest on), so nothing is generated for them; "Filling the gaps" runs the Observations tab's opening
run once per server; the other stops are generated once per server with :data:`TOUR_RECIPE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...configs import DEFAULT_DATASET
from ...recipe import PAPER, CacheKey, cache_key
from ...registry import ModelEntry, Registry
from ..model.texts import DENOISE, MAPS, MIZ, OBSERVATIONS, SMOOTHING  # the tab "Explore this" opens

#: What the generated stops show: the paper's sampler (Heun, 20 steps), 8 samples, clamped to the bounds.
TOUR_RECIPE = PAPER.replace(n=8, bounds="clamp")
#: The data set of real observations whose reference opens the tour (when its models are installed).
OBSERVED_DATASET = "osisaf"


@dataclass(frozen=True)
class Stop:
    """One step of the tour: what it shows, and the dashboard settings that explore it."""

    key: str  # ice, denoise, latent, finding1, finding2, finding3, speed, gaps
    title: str
    tab: str
    dataset: str
    backends: tuple[str, ...] = ()
    bounds: str = "clamp"
    replay: str | None = None  # backend whose denoising is replayed
    variable: str = "sic"
    generated: bool = True  # False: the picture comes from the evaluation report, nothing is generated
    report_bounds: str = "native"  # the report's setting shown: each backend's own output, or one bounds mode
    observes: bool = False  # True: the Observations tab's opening run (gap filling), not a generation

    @property
    def reference(self) -> str:
        """The reference as the state names it: the data set's own (a key of ``ExplorerState.sources``)."""
        return self.dataset

    @property
    def recipe(self):
        """The run settings of this stop's results (one sample for a replay)."""
        return TOUR_RECIPE.replace(bounds=self.bounds, n=1 if self.replay else TOUR_RECIPE.n)

    def keys(self) -> list[CacheKey]:
        """The cache keys of what this stop shows (as :meth:`ExplorerState.plan` / ``record_trajectory`` make them;
        none for the gap filling, whose key is the Observations tab's)."""
        if self.observes:
            return []
        if self.replay:
            return [cache_key(self.replay, self.recipe, "trajectory")]
        return [cache_key(b, self.recipe, self.reference) for b in self.backends]


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
    trio = tuple(dict.fromkeys(b for b in (data, gauss, cens) if b))
    return [
        Stop("ice", "Sea ice and the marginal ice zone", MAPS, observed),
        Stop("denoise", "From noise to ice", DENOISE, home, replay=data or gauss),
        Stop("latent", "Latent space", DENOISE, home, replay=cens or data),
        Stop("finding1", "Finding 1: latent scores about as well as data space", MAPS, home, trio, bounds="raw",
             generated=False),
        Stop("finding2", "Finding 2: latent diffusion smooths", SMOOTHING, home, trio, bounds="raw", generated=False),
        Stop("finding3", "Finding 3: the bounds and the marginal ice zone", MIZ, home, decoders, bounds="clamp",
             generated=False, report_bounds="clamp"),  # like against like: both decoders clamped
        Stop("speed", "Speed", MAPS, home, pair, bounds="raw"),
        Stop("gaps", "Filling the gaps", OBSERVATIONS, observed, observes=True),
    ]
