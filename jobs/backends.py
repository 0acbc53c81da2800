"""EmbeddedBackend: django.tasks run on daemon threads inside the server process.

The embedded default of ``make run``: no worker process to start, and the
server's event loop never waits for a job (ImmediateBackend would run it
inside the request). Jobs do not survive the process; see docs/jobs.md for
running them in separate workers.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.base import TaskResult, TaskResultStatus
from django.utils.crypto import get_random_string

from jobs.conf import conf
from jobs.progress import shutting_down

__all__ = ["EmbeddedBackend"]

logger = logging.getLogger("jobs")


_Item = tuple["EmbeddedBackend", TaskResult[Any, Any]]


class _Pool:
    """Daemon threads fed from one queue: Ctrl-C never waits for a long job.

    Queued tasks wait in one line per owner (a task's ``owner`` keyword argument;
    tasks without one share a line), and a free thread takes the next task of the owner
    with the fewest tasks running. Which *job* a task runs is decided in the database
    (``jobs.runner.queued_in_turn``: a task is a worker's turn), the same on every
    backend; these lines only keep the tasks themselves in a fair order. A queued task
    holds only its arguments (a job's id); its params stay in the database.
    """

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[_Item]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self.busy = 0

    def submit(self, backend: EmbeddedBackend, result: TaskResult[Any, Any], workers: int) -> None:
        owner = str(result.kwargs.get("owner", ""))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < max(1, workers):
                thread = threading.Thread(target=self._work, name=f"jobs-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)
            self._lines.setdefault(owner, deque()).append((backend, result))
            self._ready.notify()

    def _take(self) -> tuple[str, _Item]:
        with self._lock:
            while not self._lines:
                self._ready.wait()
            owner = min(self._lines, key=lambda o: self._running.get(o, 0))  # first of the least busy
            line = self._lines.pop(owner)
            item = line.popleft()
            if line:
                self._lines[owner] = line  # to the back: the others have their turn first
            self._running[owner] = self._running.get(owner, 0) + 1
            self.busy += 1
            return owner, item

    def _work(self) -> None:
        while True:
            owner, (backend, result) = self._take()
            try:
                backend._execute_task(result)
            except BaseException:  # the task's own errors are recorded on its result
                logger.exception("embedded task %s crashed", result.id)
            finally:
                with self._lock:
                    self.busy -= 1
                    self._running[owner] -= 1
                    if not self._running[owner]:
                        del self._running[owner]


_pool = _Pool()


class EmbeddedBackend(ImmediateBackend):
    supports_get_result = False
    #: Tasks run inside the server process that queued them: when it stops, the
    #: tasks it had queued are gone (the sweeper of the next one fails their jobs).
    runs_in_server_process = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        self.validate_task(task)
        result: TaskResult[Any, Any] = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        _pool.submit(self, result, int(self.options.get("WORKERS", conf.EMBEDDED_WORKERS)))
        return result


@atexit.register
def _stop_jobs() -> None:
    # Running jobs stop at their next report and are marked failed, so they do
    # not stay "running" until the stale timeout after a restart.
    shutting_down.set()
    deadline = time.monotonic() + 5
    while _pool.busy and time.monotonic() < deadline:
        time.sleep(0.05)
