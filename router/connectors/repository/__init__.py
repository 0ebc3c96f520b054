"""All of the connectors' SQL, a module per noun (their tables are in router/models.py, with
the router's): connectors, deliveries, crm (records and activities), account_syncs,
erasure."""

from __future__ import annotations

from router.connectors.repository import account_syncs as account_syncs
from router.connectors.repository import connectors as connectors
from router.connectors.repository import crm as crm
from router.connectors.repository import deliveries as deliveries
from router.connectors.repository import erasure as erasure
