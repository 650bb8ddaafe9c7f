"""The guided tour: eight stops a teacher clicks through, made once per server; :func:`mount` is its one seam.

- :mod:`.stops`: what each stop shows (picked from the registry by kind and decoder);
- :mod:`.story`: its words, with the evaluation reports' numbers; :mod:`.content`: its pictures;
- :mod:`.bank`: the server-wide side, made once and pushed to the pages;
- :mod:`.tour`: one page's tour (the step); :mod:`.views`: the page's card and slides (Panel).

Only :mod:`.views` and this seam import Panel. No module outside this package knows about tours.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

import panel as pn

from ..views.header import Extension
from .bank import Bank, apply_stop, prepare
from .stops import OBSERVED_DATASET, TOUR_RECIPE, Stop, plan
from .tour import Tour
from .views import TourView

__all__ = ["OBSERVED_DATASET", "TOUR_RECIPE", "Bank", "Stop", "Tour", "apply_stop", "mount", "plan", "prepare",
           "shared_bank"]

#: The tour stop travels in the URL: ``?tour=1`` (with ``presentation=true``: a lesson link).
URL_PARAMS = {"step": "tour"}


def shared_bank(registry: Any) -> Bank:
    """The tour's content, made once per server and models directory."""
    return pn.state.as_cached(f"seaice-explorer:tour:{registry.models_dir}", Bank)


def mount(state: Any, display: Any, tabs: Any, *, submit: Callable[[Callable[[], None]], object] | None = None,
          prepare_now: bool = True, on_error: Callable[[object], None] | None = None):
    """Mount the tour on a page: returns its view (the card above a stack of the slides and ``tabs``, for
    the page's main area) and the header's :class:`~seaice_explorer.ui.views.header.Extension` (the "Guided tour"
    button, its keys, its pictures). With ``prepare_now`` the server starts making the stops at once."""
    tour = Tour(state, bank=shared_bank(state.registry), submit=submit)
    view = TourView(tour=tour, display=display, tabs=tabs)
    if pn.state.location is not None:
        pn.state.location.sync(tour, URL_PARAMS, on_error=on_error)
    if pn.state.curdoc is not None and (prepare_now or tour.step):  # a server (or its --warm start-up run)
        tour.prepare()
    button = pn.widgets.Button(label="Guided tour", color="light", variant="outline", css_classes=["tour-start"],
                               width=130, margin=(5, 8))
    button.on_click(lambda _: tour.go(tour.step or 1))

    def on_key(action: str) -> bool:
        if action == "tour-next":
            if tour.step:
                tour.next()
            return bool(tour.step)
        if action == "tour-previous":
            tour.previous()
            return bool(tour.step)
        return bool(tour.step) and action != "leave"  # a slide has no members or steps to move through

    return view, Extension(buttons=(button,), on_key=on_key, picture=lambda: _png(view.picture()))


def _png(data: bytes | None) -> bytes | None:
    """A picture as a PNG (an animation's last frame: the finished sample)."""
    if data is None or data[:4] == b"\x89PNG":
        return data

    image = Image.open(io.BytesIO(data))
    image.seek(getattr(image, "n_frames", 1) - 1)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()
