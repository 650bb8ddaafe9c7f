"""The server's generation service: one queue per session, served round robin by daemon threads.

No Panel, no Bokeh. One :class:`GenerationService` per server runs every session's requests
(convention 8: results are pushed, not polled). A request is a ``work(ticket)`` callable; its
:class:`Ticket` carries the cancel event, the progress (``done``/``total``/``phase``, written by
``work`` through :meth:`Ticket.step` and :meth:`Ticket.set_phase`), the outcome and a
``concurrent.futures.Future`` that an async Panel callback awaits
(``await asyncio.wrap_future(ticket.future)``). ``on_progress`` and ``on_done`` are pushed from
the worker thread (``on_done`` of a request cancelled while waiting: from the thread that cancelled
it); hand them on to the session's own thread (``pn.state.execute``).

The fairness rule:

* Each session has its own queue. Sessions with waiting requests stand in one line; a free
  worker takes the **oldest waiting request of the first session in line that has nothing
  running** (a session runs one request at a time, so the server's own work never holds every
  worker while a page waits), and that session goes to the back of the line if it still has
  requests waiting. A session with nothing waiting joins at the back when it submits.
* A session's new request (``replace=True``, the default) **replaces its own requests still
  waiting**, not the one running: a user who presses Generate again wants the latest settings.
  The replaced ones end as cancelled (``on_done`` called); the new one keeps the session's place
  in the line. With ``replace=False`` it queues behind them instead.

Worker threads are daemon threads: interpreter exit never waits for a generation. Cancelling sets
the ticket's event; ``work`` stops at its next ``step()``/``set_phase()``, which raise
:class:`Cancelled`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

TicketCallback = Callable[["Ticket"], None]


class Cancelled(Exception):
    """Raised by a cancelled ticket's ``step()`` (e.g. from the sampler callback) to stop its work."""


@dataclass(eq=False)
class Ticket:
    """One request to the service, written by its worker thread and read by anyone.

    ``future`` resolves to the ticket itself once it ends, whatever the outcome (done, failed or
    cancelled): read ``result``, ``error`` and ``cancelled``. Cancelling the future (as a cancelled
    ``asyncio.wrap_future`` does) cancels the ticket.
    """

    session: Hashable
    work: Callable[[Ticket], object] = field(repr=False)
    label: str = ""
    on_progress: TicketCallback | None = field(default=None, repr=False)
    on_done: TicketCallback | None = field(default=None, repr=False)
    progress_interval_s: float = 0.2
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    done: int = 0
    total: int = 0
    phase: str = "queued"
    result: Any = field(default=None, repr=False)
    error: str | None = None
    cancelled: bool = False
    finished: bool = False
    started: float | None = field(default=None, repr=False)
    elapsed_s: float = 0.0
    future: Future = field(default_factory=Future, repr=False)
    _last_report: float = field(default=float("-inf"), init=False, repr=False)

    def __post_init__(self) -> None:
        self.future.add_done_callback(lambda f: self.cancel.set() if f.cancelled() else None)

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] (0 while the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def check(self) -> None:
        """Raise :class:`Cancelled` once the ticket is cancelled."""
        if self.cancel.is_set():
            raise Cancelled()

    def step(self, n: int = 1) -> None:
        """Count ``n`` steps done (from ``work``, e.g. its sampler callback); raises once cancelled."""
        self.check()
        self.done += n
        self._report()

    def set_phase(self, phase: str, *, total: int | None = None) -> None:
        """Say what ``work`` does now (and, optionally, how many steps it does in all); raises once cancelled."""
        self.check()
        if total is not None:
            self.total = int(total)
        self.phase = phase
        self._report()

    def _report(self, force: bool = False) -> None:
        """Push progress, at most once per ``progress_interval_s`` unless ``force``."""
        now = time.monotonic()
        if self.on_progress is None or (not force and now - self._last_report < self.progress_interval_s):
            return
        self._last_report = now
        _call(self.on_progress, self, "on_progress")


def _call(callback: TicketCallback, ticket: Ticket, what: str) -> None:
    """Run a caller's callback; its exceptions are logged, never raised into the worker."""
    try:
        callback(ticket)
    except Exception:  # noqa: BLE001 - a page's bug must not stop the server's workers
        log.exception("%s of %r raised", what, ticket.label or ticket.session)


class GenerationService:
    """Runs ``work(ticket)`` requests on ``workers`` daemon threads, one queue per session, round robin."""

    def __init__(self, workers: int = 1, *, progress_interval_s: float = 0.2,
                 name: str = "seaice-generate") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.progress_interval_s = progress_interval_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queues: dict[Hashable, deque[Ticket]] = {}  # waiting tickets of each session, oldest first
        self._line: deque[Hashable] = deque()  # sessions with waiting tickets, next served first
        self._running: set[Ticket] = set()  # at most one per worker
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ requests
    def submit(self, session: Hashable, work: Callable[[Ticket], object], *,
               on_progress: TicketCallback | None = None, on_done: TicketCallback | None = None,
               label: str = "", replace: bool = True) -> Ticket:
        """Queue ``work`` for ``session``; with ``replace`` its requests still waiting end as cancelled."""
        ticket = Ticket(session, work, label=label, on_progress=on_progress, on_done=on_done,
                        progress_interval_s=self.progress_interval_s)
        with self._lock:
            if self._closed:
                raise RuntimeError("the generation service is shut down")
            queue = self._queues.get(session)
            replaced = list(queue) if queue is not None and replace else []
            if queue is None:
                queue = self._queues[session] = deque()
                self._line.append(session)
            elif replace:
                queue.clear()  # the session keeps its place in the line
            queue.append(ticket)
            self._wake.notify()
        self._end_unstarted(replaced)
        return ticket

    def cancel(self, session: Hashable) -> int:
        """Cancel the session's waiting and running tickets (a closed page); returns how many."""
        with self._lock:
            waiting = self._drop_locked(session)
            running = [t for t in self._running if t.session == session]
            for ticket in running:
                ticket.cancel.set()
        self._end_unstarted(waiting)
        return len(waiting) + len(running)

    def forget(self, session: Hashable) -> None:
        """Cancel the session's tickets and drop all kept for it: its queue and place in the line
        (a running ticket stays in a set bounded by the worker count until its next ``step()``)."""
        self.cancel(session)

    def pending(self, session: Hashable) -> int:
        """The session's tickets not yet ended: waiting or running."""
        with self._lock:
            queue = self._queues.get(session)
            return (len(queue) if queue else 0) + sum(t.session == session for t in self._running)

    def position(self, ticket: Ticket) -> int:
        """How many waiting tickets start before ``ticket`` (round robin, if nothing new arrives);
        0 when it is next, -1 when it is not waiting (running or ended)."""
        with self._lock:
            queue = self._queues.get(ticket.session)
            if queue is None or ticket not in queue:
                return -1
            k = queue.index(ticket)
            ahead, turns = k, k + 1  # its own older tickets; sessions ahead in the line get k + 1 turns
            for session in self._line:
                if session == ticket.session:
                    turns = k  # sessions behind it get k
                else:
                    ahead += min(len(self._queues[session]), turns)
            return ahead

    def shutdown(self, timeout_s: float = 4.0) -> bool:
        """Cancel everything and stop the workers; True when all stopped within ``timeout_s``.
        Safe to call twice, and from a ticket's callback."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._closed = True
            waiting = [t for q in self._queues.values() for t in q]
            self._queues.clear()
            self._line.clear()
            for ticket in self._running:
                ticket.cancel.set()
            self._wake.notify_all()
        self._end_unstarted(waiting)
        me = threading.current_thread()
        for thread in self._threads:
            if thread is not me:
                thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(t.is_alive() for t in self._threads if t is not me)
        if not stopped:
            log.warning("generation workers still busy after %.1f s; they are daemon threads", timeout_s)
        return stopped

    @property
    def workers(self) -> tuple[threading.Thread, ...]:
        """The worker threads (daemons)."""
        return tuple(self._threads)

    # ------------------------------------------------------------------ internals
    def _drop_locked(self, session: Hashable) -> list[Ticket]:
        queue = self._queues.pop(session, None)
        if queue is None:
            return []
        self._line.remove(session)
        return list(queue)

    def _eligible_locked(self) -> Hashable | None:
        """The first session in line with nothing running: a session runs one request at a time."""
        busy = {t.session for t in self._running}
        return next((s for s in self._line if s not in busy), None)

    def _next_locked(self, session: Hashable) -> Ticket:
        self._line.remove(session)
        queue = self._queues[session]
        ticket = queue.popleft()
        if queue:
            self._line.append(session)
        else:
            del self._queues[session]
        self._running.add(ticket)
        return ticket

    def _serve(self) -> None:
        while True:
            with self._lock:
                session = self._eligible_locked()
                while session is None and not self._closed:
                    self._wake.wait()
                    session = self._eligible_locked()
                if self._closed:
                    return
                ticket = self._next_locked(session)
            try:
                self._run(ticket)
            finally:
                with self._lock:
                    self._running.discard(ticket)
                    self._wake.notify_all()  # the session's next request may run now

    def _run(self, ticket: Ticket) -> None:
        ticket.started = time.monotonic()
        try:
            ticket.set_phase("running")
            ticket.result = ticket.work(ticket)
        except Cancelled:
            ticket.cancelled = True
        except Exception as err:  # noqa: BLE001 - reported on the ticket, never raised into the server
            log.exception("%s failed", ticket.label or "generation")
            ticket.error = f"{type(err).__name__}: {err}"
        finally:
            ticket.elapsed_s = time.monotonic() - ticket.started
            self._end(ticket, ran=True)

    def _end_unstarted(self, tickets: list[Ticket]) -> None:
        for ticket in tickets:
            ticket.cancel.set()
            ticket.cancelled = True
            self._end(ticket, ran=False)

    @staticmethod
    def _end(ticket: Ticket, *, ran: bool) -> None:
        """Mark the ticket ended; push the last progress (if it ran), ``on_done``, then the future."""
        ticket.phase = "cancelled" if ticket.cancelled else "failed" if ticket.error else "done"
        ticket.finished = True
        if ran:
            ticket._report(force=True)
        if ticket.on_done is not None:
            _call(ticket.on_done, ticket, "on_done")
        with contextlib.suppress(InvalidStateError):  # cancelled by its awaiter
            ticket.future.set_result(ticket)
