"""A change in the generated world from one month on: what a monitor must notice, and what it must not.

``WorldChange(from_month="2026-03")`` makes two things happen at the start of that month (UTC):

- **conversion halves**: leads captured from then on advance from SQL to SQO half as often
  (``p_sqo`` of the daily chain times ``conversion_factor``), so about half as many reach SQO, while
  their firmographics, personas and engagement before SQL are drawn exactly as before. The truth
  stays exact, since the change is in each lead's own transition parameters;
- **a tracking change loses most page views**: every ``page_view`` event from that moment on is
  dropped with probability ``page_view_loss`` (the web analytics tag broke), whichever lead it
  belongs to, while e-mail, forms, downloads, meetings and the CRM's stages are recorded as before.

The world is drawn from the same random streams with or without the change (the dropped page views
use a stream of their own), so ``generate_demo(n, seed)`` and ``generate_demo(n, seed,
change=WorldChange(...))`` hold the same companies, people and capture times; the funnel and the
events follow the same law before the change's month (drawn afresh: the day-by-day simulation
draws for the leads still moving, so a path changed after the month shifts the draws of the others).
The unchanged world is the control.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from leadscore.features.contract import EVENT_TYPES
from leadscore.features.errors import LeadscoreError
from leadscore.features.synthetic.events import EventArrays


@dataclass(frozen=True)
class WorldChange:
    """From ``from_month`` (``YYYY-MM``) on, conversion times ``conversion_factor`` and page views lost at
    ``page_view_loss``."""

    from_month: str
    conversion_factor: float = 0.5
    page_view_loss: float = 0.8

    def __post_init__(self) -> None:
        try:
            start = pd.Timestamp(f"{self.from_month}-01T00:00:00Z")
        except ValueError as exc:
            raise LeadscoreError(f"--drift-from must be a month as YYYY-MM, not {self.from_month!r}.") from exc
        if start.strftime("%Y-%m") != self.from_month:
            raise LeadscoreError(f"--drift-from must be a month as YYYY-MM, not {self.from_month!r}.")
        if not 0.0 < self.conversion_factor <= 1.0:
            raise LeadscoreError(f"the conversion factor must lie in (0, 1], not {self.conversion_factor}.")
        if not 0.0 <= self.page_view_loss <= 1.0:
            raise LeadscoreError(f"the share of page views lost must lie in [0, 1], not {self.page_view_loss}.")

    @property
    def start(self) -> pd.Timestamp:
        """The first moment of the changed world (UTC)."""
        return pd.Timestamp(f"{self.from_month}-01T00:00:00Z")

    @property
    def start_ns(self) -> int:
        return int(self.start.value)

    def describe(self) -> dict:
        """The change as JSON-safe settings (written beside the truth)."""
        return {**asdict(self), "starts_at": self.start.isoformat()}

    def sentence(self) -> str:
        """The change in words, for ``leadscore generate``'s printout."""
        return (f"leads captured from {self.start:%B %Y} on reach SQO about {self.conversion_factor:.0%} as often "
                f"(SQL to SQO x {self.conversion_factor:g}), and from then a tracking change loses "
                f"{self.page_view_loss:.0%} of page views")


def change_conversion(p_sqo: np.ndarray, captured_ns: np.ndarray, change: WorldChange) -> np.ndarray:
    """The SQL -> SQO probabilities with leads captured from the change on scaled by its factor."""
    return np.where(captured_ns >= change.start_ns, p_sqo * change.conversion_factor, p_sqo)


def lose_page_views(events: EventArrays, change: WorldChange, rng: np.random.Generator) -> EventArrays:
    """``events`` without the page views the broken tracking lost (each one from the change on, at the
    change's rate)."""
    page_view = EVENT_TYPES.index("page_view")
    u = rng.random(len(events))
    lost = (events.event_type == page_view) & (events.time_ns >= change.start_ns) & (u < change.page_view_loss)
    keep = ~lost
    return EventArrays(*(getattr(events, name)[keep] for name in
                         ("lead", "time_ns", "event_type", "page_type", "email_step", "channel")))

