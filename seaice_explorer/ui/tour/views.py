"""The tour on the page (Panel): a card (title, words, forest plot, buttons) above the slides.

Every element is made when the page is built, one **layer** per stop, and a step only changes
which layer is visible (:func:`layer`): no model is added to a page after it loaded, so nothing
can reach the browser before what it refers to. The layers of the card and of the slides sit in
one CSS grid cell each (:data:`STACK_CSS`), so each stack is as tall as its tallest layer and a step
lays out nothing again. A stop drawn after the page opened (a cold server) arrives by a push from
the server's :class:`~.bank.Bank`: the text of existing panes changes, nothing more.
"""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewable, Viewer

from ..views.layout import Display
from .tour import Tour

#: A shown and a hidden layer: all in their stack's one grid cell, the shown one on top. ``visibility``
#: alone does not hide a layer (Panel's text panes set their own content visible): ``opacity`` does.
SHOWN = {"grid-area": "1 / 1", "visibility": "visible", "opacity": "1", "pointer-events": "auto", "z-index": "1"}
HIDDEN = {"grid-area": "1 / 1", "visibility": "hidden", "opacity": "0", "pointer-events": "none", "z-index": "0"}
STACK_CSS = ":host { display: grid !important; grid-template-columns: minmax(0, 1fr); }"
#: Pictures fill the width below the card, and never run below the window: the header and the card
#: (its tallest stop, a finding's words beside its forest plot) take at most 540 px of it.
PICTURE_CSS = "img { display: block; margin: 0 auto; max-width: 100%; height: auto; max-height: calc(100vh - 540px); }"
FOREST_CSS = "img { display: block; max-height: 250px; width: auto; }"
#: The card's text size (px), normal and in presentation mode.
TEXT_PX = (16, 23)
CARD_CSS = "p { margin: 0.15em 0; }"


def layer(obj: Viewable, shown: bool) -> None:
    """Show or hide ``obj``, a layer of a stack, by its styles alone (no layout)."""
    styles = SHOWN if shown else HIDDEN
    if any(obj.styles.get(k) != v for k, v in styles.items()):
        obj.styles = {**obj.styles, **styles}


def is_shown(obj: Viewable) -> bool:
    return obj.visible and obj.styles.get("visibility") != "hidden"


class TourView(Viewer):
    """The tour's card and slides for one page; the slides share a stack with the app's ``tabs``."""

    tour = param.ClassSelector(class_=Tour)
    display = param.ClassSelector(class_=Display)
    tabs = param.ClassSelector(class_=pn.Tabs, doc="The app's tabs: shown while the tour is closed.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        tour, keys = self.tour, [s.key for s in self.tour.stops]
        doc = pn.state.curdoc
        self._doc = doc if doc is not None and doc.session_context is not None else None
        tight = dict(margin=(0, 10), stylesheets=[CARD_CSS])
        self.title = pn.pane.Markdown("", css_classes=["tour-title"], **tight)
        self.words = {k: pn.pane.Markdown("", css_classes=["tour-text", f"tour-text-{k}"], sizing_mode="stretch_width",
                                          **tight) for k in keys}
        self.footers = {k: pn.pane.Markdown("", css_classes=["tour-footer"], styles={"opacity": "0.75"}, **tight)
                        for k in keys}
        self.forests = {k: pn.pane.HTML("", css_classes=["tour-forest"], margin=(4, 8), stylesheets=[FOREST_CSS])
                        for k in keys}
        self.texts = {k: pn.Row(pn.Column(self.words[k], self.footers[k], sizing_mode="stretch_width"),
                                self.forests[k], styles=dict(HIDDEN), sizing_mode="stretch_width", margin=0)
                      for k in keys}
        self.pictures = {k: pn.pane.HTML("", css_classes=["tour-picture"], sizing_mode="stretch_width",
                                         stylesheets=[PICTURE_CSS], margin=(4, 0)) for k in keys}
        self.slots = {k: pn.Column(self.pictures[k], sizing_mode="stretch_width", margin=0, styles=dict(HIDDEN),
                                   css_classes=["tour-slide", f"tour-slide-{k}"]) for k in keys}
        self.status = pn.pane.Markdown("", css_classes=["tour-status"], margin=(0, 10))
        self.previous = pn.widgets.Button(label="◀ Previous", width=108, css_classes=["tour-previous"])
        self.next = pn.widgets.Button(label="Next ▶", color="primary", width=108, css_classes=["tour-next"])
        self.explore = pn.widgets.Button(label="Explore this", color="success", width=108,
                                         css_classes=["tour-explore"], description="Open the live dashboard at this "
                                         "stop's settings: pan, zoom, other members, other steps")
        self.close = pn.widgets.Button(label="Close tour", color="light", width=108)
        self.previous.on_click(lambda _: tour.previous())
        self.next.on_click(lambda _: tour.next())
        self.close.on_click(lambda _: tour.go(0))
        self.explore.on_click(lambda _: self._explore())
        buttons = pn.Column(pn.Row(self.previous, self.next), pn.Row(self.explore, self.close), self.status, width=250)
        stack = pn.Column(*self.texts.values(), sizing_mode="stretch_width", margin=0, stylesheets=[STACK_CSS])
        self.card = pn.Column(
            pn.Row(pn.Column(self.title, stack, sizing_mode="stretch_width"), buttons, sizing_mode="stretch_width"),
            css_classes=["tour-card"], visible=False, sizing_mode="stretch_width",
            styles={"border-left": "6px solid #12355b", "background": "#eef3f8"}, margin=(4, 10, 8, 10))
        #: The slides and the app's tabs, one shown at a time (the page's main area: ``[card, stack]``).
        self.stack = pn.Column(*self.slots.values(), *([self.tabs] if self.tabs is not None else []),
                               sizing_mode="stretch_width", margin=0, stylesheets=[STACK_CSS])
        self._filled: set[str] = set()
        self._fill()
        if self._doc is not None or doc is None:  # a page, or a test (not ``panel serve --warm``'s start-up run)
            unsubscribe = tour.bank.subscribe(self._pushed)
            if self._doc is not None:
                pn.state.on_session_destroyed(lambda context: unsubscribe())
        tour.param.watch(self._show, ["step"])
        self.display.param.watch(self._style, ["presentation"])
        self._style()
        self._show()

    # ---------------------------------------------------------------- pushed by the server
    def _pushed(self) -> None:
        """A stop was drawn (called on the server's worker thread): fill it in on this page's own turn."""
        if self._doc is None:
            self._fill()
        else:
            self._doc.add_next_tick_callback(self._fill)

    def _fill(self) -> None:
        """Put the drawn stops' words and pictures into their (existing) panes."""
        bank = self.tour.bank
        for stop in self.tour.stops:
            content = bank.content.get(stop.key)
            if content is None or stop.key in self._filled:
                continue
            self.words[stop.key].object = content.words
            self.footers[stop.key].object = content.footer
            self.forests[stop.key].object = content.forest_html
            self.pictures[stop.key].object = content.picture_html
            self._filled.add(stop.key)
        self.status.object = bank.status

    # ---------------------------------------------------------------- one page's steps
    def _show(self, *_: object) -> None:
        tour, stop = self.tour, self.tour.stop
        on = stop is not None
        self.card.visible = on
        for key in self.slots:
            shown = on and key == stop.key
            layer(self.slots[key], shown)
            layer(self.texts[key], shown)
        if self.tabs is not None:
            layer(self.tabs, not on)
        self.display.covered = on  # the dashboard's tabs are drawn when first uncovered (lazy_tabs)
        if on:
            self.title.object = f"**{tour.step} / {len(tour.stops)} · {stop.title}**"
            self.previous.disabled = tour.step <= 1
            self.next.disabled = tour.step >= len(tour.stops)
            self.status.object = tour.bank.status

    def _style(self, *_: object) -> None:
        size = TEXT_PX[int(self.display.presentation)]
        for pane in self.words.values():
            pane.styles = {"font-size": f"{size}px", "line-height": "1.35"}
        for pane in self.footers.values():
            pane.styles = {"font-size": f"{int(size * 0.7)}px", "opacity": "0.75"}
        self.title.styles = {"font-size": f"{int(size * 1.25)}px"}

    def _explore(self) -> None:
        stop = self.tour.explore()
        if stop is not None and self.tabs is not None:
            names = list(self.tabs._names)
            if stop.tab in names:
                self.tabs.active = names.index(stop.tab)

    @property
    def showing(self) -> str | None:
        """The key of the slide shown, None while none is (the app's tabs are shown then)."""
        return next((key for key, slot in self.slots.items() if is_shown(slot)), None)

    def picture(self) -> bytes | None:
        """The shown stop's picture (for "Save view"), None off the tour."""
        stop = self.tour.stop
        content = self.tour.bank.content.get(stop.key) if stop is not None else None
        return content.picture if content is not None else None

    def __panel__(self) -> Viewable:
        return pn.Column(self.card, self.stack, sizing_mode="stretch_width", margin=0)
