"""nurture's domain, composed: one object holding its parts, each in a module of its own.

- `tracks` (tracks.py): enrolment, the steps from durable timers, calendars, ending;
- `sending` (sending.py): the emails, and the send worker's domain side;
- `consent` (consent.py): the consent rule, the suppression list, unsubscribes;
- `engagement` (engagement.py): recording and scoring engagement, sending leads back;
- `tasks` (tasks.py): call tasks for inside sales;
- `views` (views.py): the read side;
- `links` (links.py): the signed links in the emails.

Erasure (erasure.py) needs none of them: its functions take the transaction only.
"""

from __future__ import annotations

from collections.abc import Callable

from nurture.catalog import TrackCatalog
from nurture.consent import Consent
from nurture.engagement import Engagements
from nurture.links import Links
from nurture.sending import Sending
from nurture.settings import NurtureSettings
from nurture.tasks import Tasks
from nurture.tracks import Tracks
from nurture.views import Views
from services.clock import Clock
from services.crypto import SecretBox


class Nurture:
    def __init__(
        self,
        catalog: TrackCatalog,
        settings: NurtureSettings,
        clock: Clock,
        nudge: Callable[[], None] | None = None,
        *,
        box: SecretBox,
    ) -> None:
        self.catalog = catalog
        self.links = Links(settings, box)
        self.consent = Consent(self.links)
        self.sending = Sending(catalog, settings, clock, self.links, self.consent, nudge)
        self.tracks = Tracks(catalog, self.consent, self.sending)
        self.engagement = Engagements(catalog, clock, self.links)
        self.tasks = Tasks(self.engagement)
        self.views = Views(catalog, self.consent, self.engagement)
