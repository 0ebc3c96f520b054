"""Connectors: Leadfarm writing to where reps already work (their CRM) and reading the
activities they log there (docs/integrations.md).

- A connector is configured through the admin API (`PUT /router/v1/connectors/{id}`): a
  kind (`hubspot`), its settings and its credentials, sealed at rest (services/crypto.py)
  and never answered or logged.
- Out: every router event a connector's kind writes gets one delivery row per connector,
  queued in the transaction that said the event (`queue`, called by the router's
  `Announcer.say`), and the `ConnectorWorker` sends it outside any transaction, retries a
  vendor's failure with backoff and marks it dead with the vendor's answer. Routing never
  waits for a vendor.
- In: the vendor's signed webhooks (`POST /router/v1/connectors/{id}/webhooks`) name the
  calls and emails reps logged; each is matched to its lead and rep and logged through the
  router's own activity code, exactly as `POST /router/v1/leads/{id}/activities`. Kind
  `webhook` (generic.py) takes them from any dialer or sequencer, Standard Webhooks signed.
- Accounts: for kinds whose CRM has accounts, the `AccountSyncWorker` (accounts.py) writes
  their owners as account owners on a schedule, so account-owner routing follows the CRM.

The router owns assignments, explanations and activities, which is what connectors write
and read, so they live in the router (docs/architecture.md, "Connectors").
"""

from __future__ import annotations

from router.connectors.base import Connector
from router.connectors.generic import GenericWebhook
from router.connectors.hubspot import CONNECTOR as HUBSPOT
from router.connectors.salesforce import CONNECTOR as SALESFORCE
from router.connectors.slack import CONNECTOR as SLACK

GENERIC_WEBHOOK = GenericWebhook()

KINDS: dict[str, Connector] = {
    HUBSPOT.kind: HUBSPOT,
    SALESFORCE.kind: SALESFORCE,
    SLACK.kind: SLACK,
    GENERIC_WEBHOOK.kind: GENERIC_WEBHOOK,
}
"""Each connector kind by name."""
