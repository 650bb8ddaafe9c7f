"""Presentation mode and the browser's side of the map sizes (Panel).

:class:`Screen` is a tiny component in the page header. In the browser it reports the width of the
page's main area and the window's height (on load, debounced on every resize, and once a mode
change has taken effect) into a :class:`~.layout.Display`, puts the page in presentation mode (the sidebar hidden, every text
larger through Bokeh's ``--bokeh-font-size``, which reaches into each component) and, in that
mode, forwards the keys a presenter uses. :func:`key_action` says what a key does:

- ← / →: the previous / next ensemble member (Maps) or denoising step (Watch it denoise);
- Space: play or pause the denoising; Home / End: its first / last step;
- Page Down / Page Up (a presenter's clicker), N / P: the next / previous tour step;
- Escape: leave presentation mode.

Keys typed into a text field or a slider are left to it (Space plays even when a button has the
focus). No outside request: the component's script is inline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import param
from panel.custom import JSComponent

from .layout import Display

#: Global CSS of presentation mode (the page's template, outside every component).
PRESENTATION_CSS = """
body.seaice-presentation { --bokeh-font-size: 17px; }
body.seaice-presentation #sidebar { display: none !important; }
body.seaice-presentation #header .title { font-size: 1.7rem; }
"""

#: Key -> action name, in presentation mode (see the module docstring).
KEYS: Mapping[str, str] = {
    "ArrowRight": "next", "ArrowLeft": "previous", " ": "play", "Home": "first", "End": "last",
    "PageDown": "tour-next", "PageUp": "tour-previous", "n": "tour-next", "p": "tour-previous",
    "Escape": "leave",
}


def key_action(key: str) -> str | None:
    """The action of a key pressed in presentation mode, or None."""
    return KEYS.get(key) or KEYS.get(key.lower())


class Screen(JSComponent):
    """Reports the page's size, applies presentation mode and forwards the presenter's keys."""

    presentation = param.Boolean(default=False, doc="Presentation mode (set from Python).")
    keys = param.List(default=list(KEYS), doc="Keys forwarded in presentation mode.")

    _esm = """
    export function render({ model }) {
      const main = () => document.getElementById("main");
      const report = () => {
        const m = main();
        model.send_msg({ size: [Math.round(m ? m.clientWidth : window.innerWidth), Math.round(window.innerHeight)] });
      };
      let timer = null;
      const later = () => { clearTimeout(timer); timer = setTimeout(report, 200); };
      const observer = new ResizeObserver(later);
      const watch = () => { const m = main(); if (m) observer.observe(m); };
      const apply = () => {
        document.body.classList.toggle("seaice-presentation", model.presentation);
        later();
      };
      const typing = (event) => event.composedPath().some((el) =>
        el instanceof Element && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)
          || el.getAttribute("role") === "slider" || el.isContentEditable));
      const onkey = (event) => {
        if (!model.presentation || event.ctrlKey || event.altKey || event.metaKey) return;
        if (!model.keys.includes(event.key) && !model.keys.includes(event.key.toLowerCase())) return;
        if (typing(event)) return;
        event.preventDefault();
        model.send_msg({ key: event.key });
      };
      window.addEventListener("resize", later);
      window.addEventListener("keydown", onkey);
      model.on("presentation", apply);
      model.on("remove", () => {
        window.removeEventListener("resize", later);
        window.removeEventListener("keydown", onkey);
        observer.disconnect();
      });
      watch();
      apply();
      report();
      const el = document.createElement("span");
      el.className = "seaice-screen";
      return el;
    }
    """

    def __init__(self, display: Display, **params) -> None:
        super().__init__(width=0, height=0, margin=0, presentation=display.presentation, **params)
        self.display = display
        self.on_key: Callable[[str], None] = lambda action: None
        display.param.watch(lambda e: setattr(self, "presentation", e.new), ["presentation"])

    def _handle_msg(self, data: object) -> None:
        if not isinstance(data, dict):
            return
        if "size" in data:  # after every resize, and once presentation mode is applied in the page
            width, height = (int(v) for v in data["size"])
            self.display.reported_size(width, height)
            return
        key = data.get("key")
        action = key_action(str(key)) if key else None
        if action:
            self.on_key(action)
