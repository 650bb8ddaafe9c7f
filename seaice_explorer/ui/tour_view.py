"""The tour card above the tabs: the stop's title, its sentences, where they come from, a finding's
forest plot (how sure the verdict is), and Previous / Next / Close. Showing a stop switches to its tab (Panel)."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import panel as pn
import param
from panel.viewable import Viewer

from ..evaluation.reports import FINDINGS_FILE, Report, read_report, report_folder
from ..plots.forest import forest_plot
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
#: A finding's forest plot beside the words: width (px) and smallest height, normal and in presentation mode,
#: and its text size; it is as tall as the card (the same on every stop).
FOREST_WIDTH_PX, FOREST_MIN_PX, FOREST_FONT_PX = (470, 610), (276, 372), (11, 15)
#: Space (px) between the words and the forest plot, and the plot's margin above and below.
FOREST_GAP_PX, FOREST_PAD_PX = 16, 12


def card_height(markdown: str, width: int, font_px: int) -> int:
    """Height (px) of a card with a title, ``markdown`` (sentences and maybe a table) and a footer, ``width`` px wide."""
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    prose = re.sub(r"[*`_]", "", "\n".join(line for line in markdown.splitlines() if not line.startswith("|")))
    per_line = max(20, int((width - BUTTONS_PX - 40) / (0.58 * font_px)))
    lines = sum(math.ceil(len(p) / per_line) for p in prose.split("\n") if p.strip())
    height = 1.7 * font_px + lines * 1.38 * font_px + 1.0 * font_px + len(table) * 1.9 * font_px + 16
    return max(MIN_CARD_PX, int(math.ceil(height / 12) * 12))


def stop_height(markdown: str, width: int, font_px: int, forest: bool, presentation: bool) -> int:
    """Height (px) of one stop's card ``width`` px wide: its words, beside its forest plot when it has one."""
    if not forest:
        return card_height(markdown, width, font_px)
    mode = int(presentation)  # one line of slack: bold verdicts run wider than the estimate's average glyph
    return max(card_height(markdown, width - FOREST_WIDTH_PX[mode] - FOREST_GAP_PX, font_px) + int(1.4 * font_px),
               FOREST_MIN_PX[mode] + FOREST_PAD_PX)


@functools.lru_cache(maxsize=8)
def _report(folder: Path, mtimes: tuple[float, float]) -> Report | None:
    return read_report(folder)


def current_report(dataset: str) -> Report | None:
    """``dataset``'s evaluation report as it is on disk now (re-read when its table or its findings change)."""
    folder = report_folder(dataset)
    table, findings = folder / "table.csv", folder / FINDINGS_FILE
    if not table.is_file():
        return None
    return _report(folder, (table.stat().st_mtime, findings.stat().st_mtime if findings.is_file() else 0.0))


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
        # One slot per finding, each holding its plot's HoloViews pane, drawn when the tour opens and again
        # only when its parts or size change: a step shows one slot. (A new pane per plot: resizing or
        # hiding a HoloViews pane that shows a Bokeh layout fails in Panel 1.9.)
        self.forest = pn.Column(visible=False, css_classes=["tour-forest"],
                                margin=(FOREST_PAD_PX // 2, 0, 0, FOREST_GAP_PX))
        self._slots: dict[int, tuple[tuple, pn.Column]] = {}  # finding -> (what its plot shows, its slot)
        self.previous = pn.widgets.Button(label="◀ Previous", width=108, css_classes=["tour-previous"])
        self.next = pn.widgets.Button(label="Next ▶", color="primary", width=108, css_classes=["tour-next"])
        self.close = pn.widgets.Button(label="Close tour", color="light", width=108)
        self.previous.on_click(lambda _: tour.previous())
        self.next.on_click(lambda _: tour.next())
        self.close.on_click(lambda _: tour.go(0))
        self.card = pn.Column(
            pn.Row(pn.Column(self.title, self.text, self.footer, sizing_mode="stretch_width"), self.forest,
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
        texts = [(story.story(stop, tour.slide_state(stop) if tour.ready(stop) else tour.state, reports),
                  bool(story.forest_parts(stop, reports))) for stop in tour.stops]
        d = self.display
        window = d.main_width + (0 if d.presentation else SIDEBAR_PX)
        return (max(stop_height(t, window - SIDEBAR_PX - 40, TEXT_PX, forest, False) for t, forest in texts),
                max(stop_height(t, window - 40, TEXT_PRESENTATION_PX, forest, True) for t, forest in texts))

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
        if self.tour.stop is not None:
            self._draw_forest(reports_for(self.tour))

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
        with pn.io.hold():  # the words and the plot change together
            self.title.object = f"**{tour.step} / {len(tour.stops)} · {stop.title}**"
            self.text.object = story.story(stop, tour.state_of(stop), reports)
            self.footer.object = story.footer(stop, reports)
            self._draw_forest(reports)
        self._status()

    def _draw_forest(self, reports: story.Reports) -> None:
        """The stop's forest plot from the report its words quote, as tall as the card; none (and the words
        the whole width) on a stop without a finding or a finding not judged yet. Every finding's plot is
        drawn at once (in its own hidden slot), so a step to a finding only shows its slot."""
        mode = int(self.display.presentation)
        width, height = FOREST_WIDTH_PX[mode], max(int(self.card.height or 0) - FOREST_PAD_PX, FOREST_MIN_PX[mode])
        judged = {story.finding_number(stop): story.forest_parts(stop, reports) for stop in self.tour.stops}
        judged = {number: parts for number, parts in judged.items() if number is not None and parts}
        shown = story.finding_number(self.tour.stop) if self.tour.stop is not None else None
        with pn.io.hold():
            for number in set(self._slots) - set(judged):  # no longer judged (its findings.json changed)
                del self._slots[number]
            for number, parts in judged.items():
                key = (parts, width, height, FOREST_FONT_PX[mode])
                if self._slots.get(number, (None,))[0] != key:
                    plot = forest_plot(parts, width=width, height=height, font_px=FOREST_FONT_PX[mode])
                    slot = self._slots[number][1] if number in self._slots else pn.Column(margin=0)
                    slot.objects = [pn.pane.HoloViews(plot, backend="bokeh", margin=0)]
                    self._slots[number] = (key, slot)
            for number, (_, slot) in self._slots.items():
                slot.visible = number == shown
            slots = [slot for _, slot in self._slots.values()]
            if slots != self.forest.objects:
                self.forest.objects = slots
            self.forest.param.update(width=width, height=height, visible=shown in self._slots)

    @property
    def forest_shown(self):
        """The forest plot shown (a HoloViews layout), None on a stop without one."""
        if not self.forest.visible:
            return None
        return next((slot[0].object for _, slot in self._slots.values() if slot.visible and slot.objects), None)

    def _status(self) -> None:
        bank = self.tour.bank
        text = ("All steps ready" if bank.done else
                f"Preparing the tour: {len(bank.items)} of {bank.total or '…'} results ready")
        if self.status.object != text:
            self.status.object = text

    def __panel__(self) -> pn.viewable.Viewable:
        return self.card

