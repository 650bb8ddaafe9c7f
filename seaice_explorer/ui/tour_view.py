"""The tour card above the tabs: the stop's title, its sentences, where they come from, and
Previous / Next / Close. Showing a stop switches to its tab (Panel)."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import panel as pn
import param
from panel.viewable import Viewer

from ..evaluation.reports import Report, read_report, report_folder
from . import story
from .layout import Display
from .session import in_server, ticker
from .tour import OBSERVED_DATASET, Tour, family

#: Text size (px) of the card's sentences, normal and in presentation mode.
TEXT_PX, TEXT_PRESENTATION_PX = 16, 23
#: Width (px) of the card's button column, and the card's smallest height.
BUTTONS_PX, MIN_CARD_PX = 250, 132
#: Space (px) around the card (its margins and the tab bar's gap).
CARD_MARGIN_PX = 22
#: Tight paragraphs in the card (Markdown's default margins would take a line each).
CARD_CSS = "p { margin: 0.15em 0; } table { margin: 0.3em 0; }"
SIDEBAR_PX = 340  # app.py's sidebar_width


def card_height(markdown: str, width: int, font_px: int) -> int:
    """Height (px) of a card with a title, ``markdown`` (sentences and maybe a table) and a footer, ``width`` px wide."""
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    prose = re.sub(r"[*`_]", "", "\n".join(line for line in markdown.splitlines() if not line.startswith("|")))
    per_line = max(20, int((width - BUTTONS_PX - 40) / (0.58 * font_px)))
    lines = sum(math.ceil(len(p) / per_line) for p in prose.split("\n") if p.strip())
    height = 1.7 * font_px + lines * 1.38 * font_px + 1.0 * font_px + len(table) * 1.9 * font_px + 16
    return max(MIN_CARD_PX, int(math.ceil(height / 12) * 12))


@functools.lru_cache(maxsize=8)
def _report(folder: Path, mtime: float) -> Report | None:
    return read_report(folder)


def current_report(dataset: str) -> Report | None:
    """``dataset``'s evaluation report as it is on disk now (re-read only when its table changes)."""
    folder = report_folder(dataset)
    table = folder / "table.csv"
    return _report(folder, table.stat().st_mtime) if table.is_file() else None


def reports_for(tour: Tour) -> story.Reports:
    home = family(tour.state.registry)
    return story.Reports(family=current_report(home),
                         observed=current_report(OBSERVED_DATASET) if home != OBSERVED_DATASET else None)


class TourCard(Viewer):
    """The shown stop of the tour, and the buttons to move through it."""

    tour = param.ClassSelector(class_=Tour)
    display = param.ClassSelector(class_=Display)
    tabs = param.ClassSelector(class_=pn.Tabs, doc="The app's tabs: a stop shows its own.")
    slide_display = param.ClassSelector(class_=Display, default=None,
                                        doc="The slides' display (:attr:`.slides.Slides.own`): the card is above them.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        tour = self.tour
        tight = dict(margin=(0, 10), stylesheets=[CARD_CSS])
        self.title = pn.pane.Markdown("", css_classes=["tour-title"], **tight)
        self.text = pn.pane.Markdown("", css_classes=["tour-text"], sizing_mode="stretch_width", **tight)
        self.footer = pn.pane.Markdown("", css_classes=["tour-footer"], styles={"opacity": "0.75"}, **tight)
        self.status = pn.pane.Markdown("", css_classes=["tour-status"], margin=(0, 10))
        self.previous = pn.widgets.Button(label="◀ Previous", width=108, css_classes=["tour-previous"])
        self.next = pn.widgets.Button(label="Next ▶", color="primary", width=108, css_classes=["tour-next"])
        self.close = pn.widgets.Button(label="Close tour", color="light", width=108)
        self.previous.on_click(lambda _: tour.previous())
        self.next.on_click(lambda _: tour.next())
        self.close.on_click(lambda _: tour.go(0))
        self.card = pn.Column(
            pn.Row(pn.Column(self.title, self.text, self.footer, sizing_mode="stretch_width"),
                   pn.Column(pn.Row(self.previous, self.next), self.close, self.status, width=BUTTONS_PX),
                   sizing_mode="stretch_width"),
            css_classes=["tour-card"], visible=False, sizing_mode="stretch_width",
            styles={"border-left": "6px solid #12355b", "background": "#eef3f8", "overflow-y": "auto",
                    "overflow-x": "hidden"},
            margin=(4, 10, 8, 10))
        tour.param.watch(self._size, ["step"], precedence=1)  # before the stop's maps are drawn
        tour.param.watch(self._show, ["shown"])
        self.display.param.watch(self._resized, ["main_width", "height", "presentation"])
        tour.state.param.watch(self._refresh, ["results", "trajectory", "reference_data"])
        self._show()
        if in_server():  # say when the tour is ready
            self._poll = ticker(self._poll_status, 1000)

    def _poll_status(self) -> None:
        if self.card.visible:
            self._status()
        if self.tour.bank.done:
            self._poll.stop()

    def _heights(self) -> tuple[int, int]:
        """The card's height (px), normal and in presentation mode (0 when closed): the same for every
        stop (the longest words), so stepping never resizes the maps below."""
        tour = self.tour
        if tour.stop is None:
            return 0, 0
        reports = reports_for(tour)
        texts = [story.story(stop, tour.slide_state(stop) if tour.ready(stop) else tour.state, reports)
                 for stop in tour.stops]
        d = self.display
        window = d.main_width + (0 if d.presentation else SIDEBAR_PX)
        return (max(card_height(t, window - SIDEBAR_PX - 40, TEXT_PX) for t in texts),
                max(card_height(t, window - 40, TEXT_PRESENTATION_PX) for t in texts))

    def _size(self, *_: object, redraw: bool = True) -> None:
        """Size the card and tell the displays whose maps it sits above, so they are sized for it.

        With slides, the app's own tabs have the card above them only for a stop not prepared yet
        (shown on those tabs); the slides always have it. So opening or closing the tour on
        prepared stops redraws no map.
        """
        heights = self._heights()
        if heights[0]:
            self.card.height = heights[1] if self.display.presentation else heights[0]
        card_px = tuple(h + CARD_MARGIN_PX if h else 0 for h in heights)
        stop = self.tour.stop
        on_tabs = stop is not None and (self.slide_display is None or not self.tour.ready(stop))
        targets = [(self.display, card_px if on_tabs else (0, 0))]
        if self.slide_display is not None and stop is not None:
            targets.append((self.slide_display, card_px))
        for display, px in targets:
            if redraw:
                display.set_card(px)
            else:  # the display's own report redraws the views next
                display.card_px = px

    def _resized(self, *_: object) -> None:
        self._size(redraw=False)
        self._style()

    def _style(self) -> None:
        size = TEXT_PRESENTATION_PX if self.display.presentation else TEXT_PX
        self.text.styles = {"font-size": f"{size}px", "line-height": "1.35"}
        self.title.styles = {"font-size": f"{int(size * 1.25)}px"}
        self.footer.styles = {"font-size": f"{int(size * 0.7)}px", "opacity": "0.75"}

    def _show(self, *_: object) -> None:
        """Show the stop (its tab, its words) or hide the card when the tour is closed."""
        tour, stop = self.tour, self.tour.stop
        self.card.visible = stop is not None
        self._size()
        if stop is None:
            return
        names = list(self.tabs._names) if self.tabs is not None else []
        if not tour.slide and stop.tab in names:  # on the app's own tabs (a stop not prepared yet)
            self.tabs.active = names.index(stop.tab)
        self._style()
        self.previous.disabled = tour.step <= 1
        self.next.disabled = tour.step >= len(tour.stops)
        self._refresh()

    def _refresh(self, *_: object) -> None:
        """The sentences follow what is shown (e.g. the timings once the results arrive)."""
        tour, stop = self.tour, self.tour.stop
        if stop is None:
            return
        reports = reports_for(tour)
        self.title.object = f"**{tour.step} / {len(tour.stops)} · {stop.title}**"
        self.text.object = story.story(stop, tour.state_of(stop), reports)
        self.footer.object = story.footer(stop, reports)
        self._status()

    def _status(self) -> None:
        bank = self.tour.bank
        text = ("All steps ready" if bank.done else
                f"Preparing the tour: {len(bank.items)} of {bank.total or '…'} results ready")
        if self.status.object != text:
            self.status.object = text

    def __panel__(self) -> pn.viewable.Viewable:
        return self.card

