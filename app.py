"""seaice-explorer dashboard: ``panel serve app.py`` (composes the views and serves them, nothing more).

Options after ``--args`` (read on the server; nothing typed in the browser is ever opened)::

    panel serve app.py --args [--models DIR] [--reference nextsim_output.nc] [--grid ds_auxiliary.nc] \\
        [--observed ice_conc_nh_ease2-250_cdr-v3p0_201803171200.nc ...] [--cache-mb 1024]

The backends are the trained models in ``--models`` (default: the shipped ``models/``), one data
set at a time next to that data set's reference. Importing this module has no side effects: the
app is built in :func:`create_app`, which runs only when a Bokeh server executes the file.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

TITLE = "Sea-ice explorer · diffusion models of Arctic sea ice"
URL_PARAMS = {p: p for p in ("dataset", "seed", "backends", "variable", "n", "steps", "sampler", "bounds")}
#: Presentation mode and the tour stop travel in the URL too: ``?presentation=true&tour=1`` opens a lesson.
DISPLAY_URL_PARAMS = {"presentation": "presentation"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The server's configuration (given after ``panel serve app.py --args``)."""
    parser = argparse.ArgumentParser(prog="panel serve app.py --args", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=None, metavar="DIR",
                        help="folder of trained models, one sub-folder each (default: $SEAICE_EXPLORER_MODELS "
                             "or the shipped models/)")
    parser.add_argument("--reference", action="append", default=[], metavar="PATH",
                        help="neXtSIM (or canonical) file to offer as reference, besides the data sets' own")
    parser.add_argument("--grid", default=None, metavar="PATH",
                        help="neXtSIM grid file (e.g. ds_auxiliary.nc) for --reference files without lat/lon")
    parser.add_argument("--observed", action="append", default=[], metavar="PATH",
                        help="OSI SAF or NSIDC sea-ice concentration file to offer as reference")
    parser.add_argument("--cache-mb", type=int, default=1024, help="memory budget of cached results (MB)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="generation device")
    parser.add_argument("--no-autogenerate", action="store_true",
                        help="do not generate when a page opens (the guided tour's results are then computed "
                             "when the tour is first opened, not at start-up)")
    parser.add_argument("--no-tour-prep", action="store_true",
                        help="compute the guided tour's results when the tour is first opened, not at start-up")
    return parser.parse_args(list(argv or []))


def reference_sources(args: argparse.Namespace) -> dict[str, str]:
    """Extra reference name (shown in the page) -> what the server opens; each data set's own
    reference is added by the state."""
    sources = {}
    for kind, paths in (("neXtSIM", args.reference), ("observed", args.observed)):
        for path in paths:
            sources[f"{kind}: {Path(path).name}"] = str(Path(path).expanduser().resolve())
    return sources


def create_state(args: argparse.Namespace):
    """One session's state: the server's registry, cache, workers and references (cached per server)."""
    from seaice_explorer.ui import session
    from seaice_explorer.ui.model.state import ExplorerState

    return ExplorerState(
        session.shared_registry(args.models),
        reference_loader=functools.partial(session.cached_reference, grid=args.grid),
        sources=reference_sources(args), cache=session.shared_cache(args.cache_mb),
        executor=session.page_queue(), device=args.device,
    )


def create_app(argv: Sequence[str] | None = None):
    """Build one session's page: state, views and the (offline) Bootstrap template."""
    import panel as pn

    from seaice_explorer.runtime import configure_allocator
    from seaice_explorer.ui.views.denoise_view import DenoiseView
    from seaice_explorer.ui.views.header import Header
    from seaice_explorer.ui.views.layout import RESIZE_PARAMS, Display
    from seaice_explorer.ui.views.maps_view import MapsView
    from seaice_explorer.ui.views.observations_view import ObservationsView
    from seaice_explorer.ui.views.presentation import PRESENTATION_CSS
    from seaice_explorer.ui import tour
    from seaice_explorer.ui import session
    from seaice_explorer.ui.session import connect_session
    from seaice_explorer.ui.views.sidebar import Downloads, Sidebar
    from seaice_explorer.ui.views.tabs import AboutView, MizView, SmoothingView, lazy_tabs
    from seaice_explorer.ui.model.texts import TABS

    configure_allocator()  # once per server process: the fast allocator without LD_PRELOAD
    args = parse_args(argv)
    pn.extension(notifications=True)
    state = create_state(args)
    display = Display()
    location = pn.state.location

    def warn(bad: object) -> None:
        state.notify(f"Ignored invalid settings in the URL: {bad}", "warning")

    if location is not None:
        location.sync(state, URL_PARAMS, on_error=warn)
        location.sync(display, DISPLAY_URL_PARAMS, on_error=warn)
    sized = dict(state=state, display=display)
    denoise = DenoiseView(**sized)
    views = (MapsView(**sized), MizView(**sized).content, SmoothingView(**sized).content, denoise,
             AboutView(state=state).content, ObservationsView(**sized))
    tabs = lazy_tabs(state, *zip(TABS, views), watch=[display.param[p] for p in RESIZE_PARAMS],
                     covered=display.param.covered, sizing_mode="stretch_width")
    connect_session(state, autogenerate=not args.no_autogenerate)  # the page's first generation comes first
    tour_view, tour_keys = tour.mount(state, display, tabs, submit=session.server_queue().submit,
                                      prepare_now=not (args.no_tour_prep or args.no_autogenerate), on_error=warn)
    template = pn.template.BootstrapTemplate(
        title=TITLE, sidebar=[Sidebar(state=state), Downloads(state=state)], main=[tour_view],
        header=[Header(state=state, display=display, tabs=tabs, denoise=denoise, extensions=[tour_keys])],
        header_background="#12355b", sidebar_width=340,
    )
    template.config.raw_css.append(PRESENTATION_CSS)
    return template


if __name__.startswith("bokeh"):
    create_app(sys.argv[1:]).servable()
