"""seaice-explorer dashboard: ``panel serve app.py`` (composes the views and serves them, nothing more).

Options after ``--args`` (read on the server; nothing typed in the browser is ever opened)::

    panel serve app.py --args --reference nextsim_output.nc [--grid ds_auxiliary.nc] \\
        [--observed ice_conc_nh_ease2-250_cdr-v3p0_201803171200.nc ...] [--cache-mb 1024]

Importing this module has no side effects: the app is built in :func:`create_app`, which runs
only when a Bokeh server executes the file.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

TITLE = "Sea-ice explorer · diffusion models of Arctic sea ice"
URL_PARAMS = {p: p for p in ("seed", "backends", "variable", "n", "steps", "sampler", "bounds")}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The server's configuration (given after ``panel serve app.py --args``)."""
    parser = argparse.ArgumentParser(prog="panel serve app.py --args", description=__doc__.split("\n")[0])
    parser.add_argument("--reference", action="append", default=[], metavar="PATH",
                        help="neXtSIM (or canonical) file to offer as reference, besides the bundled default")
    parser.add_argument("--grid", default=None, metavar="PATH",
                        help="neXtSIM grid file (e.g. ds_auxiliary.nc) for --reference files without lat/lon")
    parser.add_argument("--observed", action="append", default=[], metavar="PATH",
                        help="OSI SAF or NSIDC sea-ice concentration file to offer as reference")
    parser.add_argument("--cache-mb", type=int, default=1024, help="memory budget of cached results (MB)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="generation device")
    parser.add_argument("--no-autogenerate", action="store_true", help="do not generate when a page opens")
    return parser.parse_args(list(argv or []))


def reference_sources(args: argparse.Namespace) -> dict[str, str]:
    """Reference name (shown in the page) -> what the server opens."""
    sources = {"default": "default"}
    for kind, paths in (("neXtSIM", args.reference), ("observed", args.observed)):
        for path in paths:
            sources[f"{kind}: {Path(path).name}"] = str(Path(path).expanduser().resolve())
    return sources


def create_app(argv: Sequence[str] | None = None):
    """Build one session's page: state, views and the (offline) Bootstrap template."""
    import panel as pn

    from seaice_explorer.ui import views
    from seaice_explorer.ui.state import ExplorerState

    args = parse_args(argv)
    pn.extension(notifications=True)
    state = ExplorerState(
        reference_loader=functools.partial(views.cached_reference, grid=args.grid),
        sources=reference_sources(args), cache=views.shared_cache(args.cache_mb),
        executor=views.shared_executor(), device=args.device,
    )
    if pn.state.location is not None:
        pn.state.location.sync(state, URL_PARAMS, on_error=lambda bad: state.notify(
            f"Ignored invalid settings in the URL: {bad}", "warning"))
    maps_view = views.MapsView(state=state)
    miz_view, smoothing_view = views.MizView(state=state), views.SmoothingView(state=state)
    tabs = pn.Tabs(
        ("Maps", maps_view), ("MIZ statistics", miz_view), ("Smoothing", smoothing_view),
        ("Watch it denoise", views.DenoiseView(state=state)), ("About", views.AboutView(state=state)),
        dynamic=True, sizing_mode="stretch_width",
    )
    views.follow_active_tab(tabs, {1: miz_view, 2: smoothing_view})
    template = pn.template.BootstrapTemplate(
        title=TITLE, sidebar=[views.Sidebar(state=state), views.Downloads(state=state, maps_view=maps_view)],
        main=[tabs], header_background="#12355b", sidebar_width=340,
    )
    views.connect_session(state, autogenerate=not args.no_autogenerate)
    return template


if __name__.startswith("bokeh"):
    create_app(sys.argv[1:]).servable()
