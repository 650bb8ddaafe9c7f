"""Panel panes made safe for the dashboard's lazy tabs (Panel).

:class:`Markdown` is Panel's Markdown pane, but updated with the session's document when its tab
is hidden. In Panel 1.9 a pane in a hidden tab of ``pn.Tabs(dynamic=True)`` is detached from the
document, and updating it then resolves its stylesheets without the page's ``dist_url``, i.e. to
cdn.holoviz.org: an outside request as soon as the tab is shown again (seen when the results
change while another tab is shown, e.g. in the guided tour).
"""

from __future__ import annotations

import panel as pn


class Markdown(pn.pane.Markdown):
    """``pn.pane.Markdown`` whose updates in a hidden tab keep the local stylesheets (see the module docstring)."""

    def _get_properties(self, doc):
        return super()._get_properties(doc or pn.state.curdoc)
