"""The projection runner: a thread that keeps the read models caught up, and restarts after a failure."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from app.api.backend import DATABASE_ERRORS, ReadModelsLike

log = logging.getLogger(__name__)


class ProjectionRunner:
    """Calls `views.catch_up()` every `interval` seconds until stopped. A failure is logged and retried, never fatal."""

    def __init__(self, views: ReadModelsLike, interval: float) -> None:
        self.views = views
        self.interval = interval
        self.last_error: str | None = None
        self.last_run: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projection-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.views.catch_up()
                self.last_error = None
            except DATABASE_ERRORS as e:  # a dropped connection must not stop the runner (DESIGN 8.2)
                self.last_error = str(e).splitlines()[0] if str(e) else type(e).__name__
                log.warning("projection catch-up failed, retrying: %s", self.last_error)
            self.last_run = datetime.now(tz=UTC)
            self._stop.wait(self.interval)
