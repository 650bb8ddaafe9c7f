"""How large the maps are drawn: the browser's size and presentation mode -> map size, columns and text sizes.

:class:`Display` holds what the browser reports (the width of the page's main area and the
window's height) and the presentation toggle; views redraw when ``reported`` is bumped (a report
of the page, or a new height of the tour card), not on the toggle itself: the page reports its
new size once the mode has taken effect, so a toggle redraws once. :meth:`Display.grid` turns them into a
:class:`MapGrid`: one to three maps per row, square, as large as the width allows and no taller
than the window, with titles, colour bars and their labels scaled with the map. No Panel here:
the browser side is :mod:`.presentation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import param

from ...plots.maps import MapFonts

#: Most maps in a row.
MAX_COLUMNS = 3
#: Height (px) of what sits above a tab's maps: the header, the tab bar (with its margin) and the maps'
#: controls with the maps' toolbar (measured in chromium at 1920 × 1080).
HEADER_PX, TABS_PX, CONTROLS_PX = 70, 51, 82
#: Space kept free below the maps (px).
BOTTOM_PX = 16
#: Horizontal padding of the main area and gap between maps (px).
PADDING_PX, GAP_PX = 24, 12
#: Text scale of presentation mode (also in :data:`.presentation.PRESENTATION_CSS`).
PRESENTATION_SCALE = 1.3
#: The display parameters a view redraws on (see the module docstring).
RESIZE_PARAMS = ("reported",)


@dataclass(frozen=True)
class MapGrid:
    """Maps per row, the square frame of each map (px) and its text sizes."""

    ncols: int
    frame: int
    fonts: MapFonts

    @property
    def title_px(self) -> int:
        """Height of a map's title line (px)."""
        return int(self.fonts.title * 1.6) + 6

    @property
    def side_px(self) -> int:
        """Width a map needs beside its frame: colour bar, its ticks and label, borders (px)."""
        return self.fonts.colorbar + int(3.4 * self.fonts.ticks) + int(1.6 * self.fonts.label) + 34


def fonts_for(frame: int, presentation: bool = False) -> MapFonts:
    """Text sizes that grow with the map (and more in presentation mode)."""
    k = PRESENTATION_SCALE if presentation else 1.0

    def size(divisor: float, lo: int, hi: int) -> int:
        return int(round(k * min(max(frame / divisor, lo), hi)))

    return MapFonts(title=size(24, 14, 22), label=size(34, 11, 17), ticks=size(38, 10, 15),
                    colorbar=size(26, 10, 22))


def map_grid(n_panels: int, width: int, height: int, *, presentation: bool = False, above: int = 0,
             min_frame: int = 160) -> MapGrid:
    """The grid of ``n_panels`` maps in an area ``width`` px wide, in a window ``height`` px tall.

    ``above`` is the height (px) of anything between the header and the maps besides the tab bar
    and the maps' controls (e.g. the tour card). Each map is as wide as its share of the width
    allows, but no taller than what is left of the window below the header, so one row fits.
    """
    ncols = max(1, min(n_panels, MAX_COLUMNS))
    frame = 10_000
    for _ in range(3):  # the side (colour bar) and title grow with the frame: settle in a few passes
        grid = MapGrid(ncols, frame, fonts_for(frame, presentation))
        by_width = (width - PADDING_PX - (ncols - 1) * GAP_PX) // ncols - grid.side_px
        by_height = height - HEADER_PX - TABS_PX - CONTROLS_PX - above - BOTTOM_PX - grid.title_px
        frame = max(min_frame, min(by_width, by_height))
    return MapGrid(ncols, frame, fonts_for(frame, presentation))


class Display(param.Parameterized):
    """What the browser reports about the page, and presentation mode (one per session)."""

    main_width = param.Integer(default=1136, bounds=(200, None),
                               doc="Width (px) of the page's main area, beside the sidebar.")
    height = param.Integer(default=950, bounds=(200, None), doc="Height (px) of the browser window.")
    presentation = param.Boolean(default=False,
                                 doc="Presentation mode: no sidebar, larger text and maps, keyboard control.")
    card_px = param.NumericTuple(default=(0, 0), length=2,
                                 doc="Height (px) of the tour card above the tabs: (normal, presentation); 0 closed.")
    covered = param.Boolean(default=False, doc="Something (a tour slide) covers the dashboard's tabs: they build nothing.")
    reported = param.Integer(default=0, precedence=-1,
                             doc="Bumped when the sizes change: views redraw then (once per change).")

    def reported_size(self, main_width: int, height: int) -> None:
        """The browser's report: the sizes first (the tour card adjusts to them), then one redraw of the views."""
        self.param.update(main_width=max(main_width, 200), height=max(height, 200))
        self.reported += 1

    def set_card(self, card_px: tuple[int, int]) -> None:
        """The tour card's new height (normal, presentation): the views redraw when it changed."""
        if tuple(card_px) != tuple(self.card_px):
            self.param.update(card_px=tuple(card_px), reported=self.reported + 1)

    def mirror(self) -> Display:
        """A display that follows this one's sizes and mode but has a tour card of its own (the tour's
        slides): a change of this display's card height (the tour opened or closed) redraws nothing there."""
        twin = Display(main_width=self.main_width, height=self.height, presentation=self.presentation)

        def follow(*_: object) -> None:
            sizes = dict(main_width=self.main_width, height=self.height, presentation=self.presentation)
            if any(getattr(twin, k) != v for k, v in sizes.items()):
                twin.param.update(**sizes, reported=twin.reported + 1)

        self.param.watch(follow, ["reported"])
        return twin

    @property
    def above(self) -> int:
        """Height (px) of the tour card in the mode shown."""
        return int(self.card_px[1] if self.presentation else self.card_px[0])

    def grid(self, n_panels: int, *, extra: int = 0) -> MapGrid:
        """The map grid of ``n_panels`` maps now; ``extra`` px of controls beyond the usual row."""
        return map_grid(n_panels, self.main_width, self.height, presentation=self.presentation,
                        above=self.above + extra)
