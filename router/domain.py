"""What every part of the router's domain holds: its settings, the webhook announcer (`say`
emits an event and queues its webhooks) and the routing configuration in force."""

from __future__ import annotations

from router.config import RoutingConfig
from router.settings import RouterSettings
from router.webhooks import Announcer
from services.reference import Reference


class Domain:
    def __init__(
        self, settings: RouterSettings, announcer: Announcer, routing: Reference[RoutingConfig]
    ) -> None:
        self.settings = settings
        self.announcer = announcer
        self.say = announcer.say
        self.routing = routing
