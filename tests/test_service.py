"""The generation service: round robin between sessions, replacement, cancel, progress, shutdown.

Fake ``work`` functions only (no Panel, no model). Ordering is made deterministic with events: a
"gate" work function holds the single worker until the test has queued everything, so no
assertion depends on timing; waits have generous timeouts that only matter when a test fails.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from seaice_explorer.ui.model.service import Cancelled, GenerationService, Ticket

WAIT_S = 30.0  # only reached when something is broken


@pytest.fixture
def service() -> Iterator[GenerationService]:
    svc = GenerationService(workers=1)
    yield svc
    svc.shutdown(timeout_s=5.0)


def gate() -> tuple[threading.Event, threading.Event, Callable[[Ticket], str]]:
    """A work function that says it started, then waits (stepping) until released."""
    started, release = threading.Event(), threading.Event()

    def work(ticket: Ticket) -> str:
        started.set()
        while not release.wait(0.01):
            ticket.step()
        return "gate"

    return started, release, work


def recorder(order: list[str], name: str) -> Callable[[Ticket], str]:
    def work(ticket: Ticket) -> str:
        order.append(name)
        return name

    return work


def wait(ticket: Ticket) -> Ticket:
    return ticket.future.result(timeout=WAIT_S)


def test_round_robin_serves_other_sessions_between_one_sessions_requests(service):
    started, release, work = gate()
    blocker = service.submit("gate", work)
    assert started.wait(WAIT_S)
    order: list[str] = []
    a = [service.submit("A", recorder(order, f"A{i}"), replace=False) for i in range(5)]
    b = service.submit("B", recorder(order, "B0"))
    c = [service.submit("C", recorder(order, f"C{i}"), replace=False) for i in range(2)]
    assert service.pending("A") == 5 and service.pending("B") == 1
    assert [service.position(t) for t in a] == [0, 3, 5, 6, 7]
    assert service.position(b) == 1 and [service.position(t) for t in c] == [2, 4]
    assert service.position(blocker) == -1  # running
    release.set()
    for t in (*a, b, *c):
        wait(t)
    assert order == ["A0", "B0", "C0", "A1", "C1", "A2", "A3", "A4"]
    assert service.position(a[-1]) == -1 and service.pending("A") == 0
    assert wait(blocker).result == "gate"


def test_a_new_request_replaces_the_waiting_one_not_the_running_one(service):
    started, release, work = gate()
    ended: list[Ticket] = []
    running = service.submit("A", work, on_done=ended.append, label="running")
    assert started.wait(WAIT_S)
    old = service.submit("A", lambda t: "old", on_done=ended.append, label="old")
    other = service.submit("B", lambda t: "B", label="B")
    new = service.submit("A", lambda t: "new", on_done=ended.append, label="new")
    assert old.finished and old.cancelled and old.phase == "cancelled"
    assert ended == [old] and wait(old) is old  # on_done called once, the future resolved
    assert not running.cancel.is_set() and service.pending("A") == 2
    assert service.position(new) == 0  # it took the replaced request's place, ahead of B
    release.set()
    assert wait(running).result == "gate" and not running.cancelled
    assert wait(new).result == "new" and wait(other).result == "B"
    assert new.started < other.started
    assert ended == [old, running, new]


def test_cancel_stops_a_running_ticket_at_its_next_step(service):
    started, release, work = gate()
    ended: list[Ticket] = []
    ticket = service.submit("A", work, on_done=ended.append)
    waiting = service.submit("A", lambda t: "never", on_done=ended.append, replace=False)
    assert started.wait(WAIT_S)
    assert service.cancel("A") == 2
    assert wait(ticket).cancelled and ticket.result is None and ticket.error is None
    assert waiting.cancelled and waiting.started is None
    assert sorted(map(id, ended)) == sorted(map(id, (ticket, waiting)))
    assert not release.is_set()  # stopped by the cancel, not by the release
    assert service.submit("A", lambda t: "next").future.result(WAIT_S).result == "next"


def test_forget_leaves_nothing_for_the_session(service):
    started, release, work = gate()
    blocker = service.submit("other", work)
    assert started.wait(WAIT_S)
    tickets = [service.submit("A", lambda t: None, replace=False) for _ in range(3)]
    service.forget("A")
    assert all(t.cancelled for t in tickets)
    assert "A" not in service._queues and "A" not in service._line
    assert service.pending("A") == 0
    release.set()
    wait(blocker)
    assert not service._queues and not service._line


def test_cancelling_the_future_cancels_the_ticket(service):
    started, release, work = gate()
    ticket = service.submit("A", work)
    assert started.wait(WAIT_S)
    assert ticket.future.cancel()  # what a cancelled asyncio.wrap_future does
    deadline = time.monotonic() + WAIT_S
    while not ticket.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ticket.cancelled


def test_progress_is_pushed_and_throttled():
    steps = 50

    def work(ticket: Ticket) -> int:
        ticket.set_phase("sampling", total=steps)
        for _ in range(steps):
            ticket.step()
        return ticket.done

    for interval, expected in ((1e6, 2), (0.0, 1 + 1 + steps + 1)):  # running, sampling, steps, final
        svc = GenerationService(progress_interval_s=interval)
        seen: list[tuple[int, str, bool]] = []
        ticket = svc.submit("A", work, on_progress=lambda t: seen.append((t.done, t.phase, t.finished)))
        assert wait(ticket).result == steps and ticket.fraction == 1.0
        assert len(seen) == expected <= steps + 3
        assert seen[-1] == (steps, "done", True)  # the final call, once it has ended
        svc.shutdown()


def test_errors_end_the_ticket_and_the_worker_goes_on(service, caplog):
    def broken(ticket: Ticket) -> None:
        ticket.step()
        raise ValueError("bad checkpoint")

    def bad_callback(ticket: Ticket) -> None:
        raise RuntimeError("page bug")

    failed = service.submit("A", broken, on_progress=bad_callback, on_done=bad_callback, label="broken")
    assert wait(failed).error == "ValueError: bad checkpoint" and failed.phase == "failed"
    assert not failed.cancelled and failed.result is None
    ok = service.submit("A", lambda t: 42, on_done=bad_callback)
    assert wait(ok).result == 42 and ok.error is None
    assert "bad checkpoint" in caplog.text and "page bug" in caplog.text


def test_step_raises_cancelled_once_cancelled():
    ticket = Ticket("A", lambda t: None)
    ticket.step()
    ticket.cancel.set()
    with pytest.raises(Cancelled):
        ticket.step()
    with pytest.raises(Cancelled):
        ticket.set_phase("decoding")
    assert ticket.done == 1


def test_shutdown_returns_in_time_while_work_runs_and_workers_are_daemons():
    svc = GenerationService(workers=2)
    assert all(t.daemon for t in svc.workers)
    started = threading.Event()
    ended: list[Ticket] = []

    def long_loop(ticket: Ticket) -> None:
        started.set()
        for _ in range(10**9):
            time.sleep(0.001)
            ticket.step()

    running = svc.submit("A", long_loop, on_done=ended.append)
    queued = [svc.submit(s, long_loop, on_done=ended.append) for s in ("B", "C")]
    assert started.wait(WAIT_S)
    t0 = time.monotonic()
    assert svc.shutdown(timeout_s=4.0)
    assert time.monotonic() - t0 < 5.0
    assert running.cancelled and all(t.cancelled for t in queued) and len(ended) == 3
    assert svc.shutdown(timeout_s=1.0)  # twice is fine
    with pytest.raises(RuntimeError):
        svc.submit("A", long_loop)


def test_shutdown_gives_up_on_work_that_never_steps():
    svc = GenerationService()
    started, release = threading.Event(), threading.Event()
    svc.submit("A", lambda t: (started.set(), release.wait(WAIT_S)))
    assert started.wait(WAIT_S)
    t0 = time.monotonic()
    assert not svc.shutdown(timeout_s=0.2)  # a daemon thread: the interpreter will not wait for it
    assert time.monotonic() - t0 < 2.0
    release.set()


def test_an_async_callback_awaits_the_ticket(service):
    async def generate() -> Ticket:
        return await asyncio.wrap_future(service.submit("A", lambda t: "maps").future)

    ticket = asyncio.run(asyncio.wait_for(generate(), WAIT_S))
    assert ticket.result == "maps" and ticket.finished and ticket.phase == "done"


def test_a_session_runs_one_request_at_a_time_so_the_servers_work_never_holds_every_worker():
    """With two workers, the server's two long requests run one after the other, and a page's request
    takes the second worker at once (before, warm-up and the tour's preparation held both)."""
    svc = GenerationService(workers=2)
    try:
        started, release, work = gate()
        first = svc.submit("server", work, replace=False)
        assert started.wait(WAIT_S)
        second_started = threading.Event()
        second = svc.submit("server", lambda t: second_started.set(), replace=False)
        page = wait(svc.submit("page", lambda t: "page's result"))
        assert page.result == "page's result" and not second_started.is_set()  # the server's second waits
        assert svc.position(second) == 0 and not first.finished
        release.set()
        assert wait(second).finished and second_started.is_set() and wait(first).result == "gate"
    finally:
        svc.shutdown(timeout_s=5.0)


def test_the_exit_stop_is_registered_only_in_a_server(monkeypatch):
    """The server's stop leaves with os._exit; outside a server (a test run, a notebook) it must not be
    registered, or a failing test run would exit with status 0."""
    import atexit

    from seaice_explorer.ui import session

    registered = []
    monkeypatch.setattr(atexit, "register", lambda *args: registered.append(args))
    monkeypatch.setattr(session.pn.state, "as_cached", lambda key, make: make())
    session.shared_service().shutdown(2.0)
    assert registered == []
