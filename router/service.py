"""The router's domain, composed: `Router` is every part below, each in a module of its own
(the parts share the settings, the announcer and the routing configuration: domain.py).

- decisions.py: where a lead goes and why (`decide`, writing nothing), the routing batch
  (`Routing`) and its locks;
- routing.py: recording a decision (assign, hold until working hours, the fallback queue),
  ending an assignment, returning a lead to marketing; `on_qualified` routes a batch;
- sla.py: a pool's SLA and its deadlines (`deadlines`: the first touch and the cadence's
  end), the timer kinds; breaches.py: a deadline passed (first touch missed, cadence closed);
- activities.py: a rep's activities, counted toward the cadence;
- compliance.py: judging the reps, suspending and reinstating them;
- lead_actions.py: accepting and rejecting a lead, a manager's assignment;
- opportunities.py: opening and closing opportunities;
- views.py: a lead as the API shows it; erasure.py: erasing a person.

Where the round-robin cursor advances: the distribution picks the next rep in turn
(distribution.py `_round_robin`) and the routing batch records the pool's new cursor
(state.py `RoutingState.assigned`), written with the batch (`Routing.finish`).
"""

from __future__ import annotations

from router.activities import Activities
from router.breaches import Breaches
from router.erasure import Erasure
from router.lead_actions import LeadActions
from router.opportunities import Opportunities
from router.views import LeadViews


class Router(Breaches, Activities, LeadActions, Opportunities, LeadViews, Erasure):
    """The router's domain: every part's methods on one object, which the composition root
    (router/__init__.py), the consumers, the API and the connectors share."""
