"""One page's tour (no Panel): which stop is shown, starting the server's preparation, "Explore this"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import param

from ..model.observations import default_assimilate, open_record, run_key
from ..model.state import ExplorerState
from .bank import Bank, apply_stop, prepare, reports_for
from .stops import Stop, plan


class Tour(param.Parameterized):
    """The tour of one page: the stop shown (0: closed). The stops' content is the server's (:class:`Bank`)."""

    step = param.Integer(default=0, bounds=(0, None), doc="Tour stop shown, from 1 (0: the tour is closed).")

    def __init__(self, state: ExplorerState, bank: Bank | None = None,
                 submit: Callable[[Callable[[], None]], object] | None = None, *, assimilate_fn: Any = None,
                 record_loader: Callable[[str], Any] | None = None, **params) -> None:
        self.state = state
        self.bank = bank if bank is not None else Bank()
        self.stops = plan(state.registry)
        self.submit = submit  # runs the preparation off the UI thread (inline without it)
        #: The gap filling's run (the Observations tab's conditioning; tests give a stand-in).
        self.observe = partial(run_key, models_dir=state.registry.models_dir, device=state.device,
                               assimilate_fn=assimilate_fn or default_assimilate,
                               record_loader=record_loader or open_record)
        super().__init__(**params)
        self.param.step.bounds = (0, len(self.stops))

    @property
    def stop(self) -> Stop | None:
        return self.stops[self.step - 1] if 0 < self.step <= len(self.stops) else None

    def prepare(self) -> None:
        """Start making every stop's content (once per server)."""
        s = self.state
        self.bank.start(lambda: prepare(self.bank, self.stops, s.runner, s.registry, s.reference_loader, s.sources,
                                        lambda: reports_for(s.registry),
                                        lambda key, truth, record: self.observe(key, truth, record=record)),
                        self.submit)

    def go(self, step: int) -> None:
        if step:
            self.prepare()
        self.step = int(np.clip(step, 0, len(self.stops)))

    def next(self) -> None:
        self.go(self.step + 1 if self.step < len(self.stops) else self.step)

    def previous(self) -> None:
        self.go(max(self.step - 1, 1) if self.step else 0)

    def explore(self) -> Stop | None:
        """Close the tour on the shown stop's settings: the page's own dashboard then shows it, live."""
        stop = self.stop
        if stop is not None:
            apply_stop(self.state, stop, self.bank)
        self.step = 0
        return stop
