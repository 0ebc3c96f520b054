"""What the router's HTTP bodies share: the strict base, id patterns, the CRMs' owner ids."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)

from contracts.events import EVENT_TYPES
from services.controlchars import refuse_control_characters

ID_PATTERN = r"^[A-Za-z0-9._-]+$"


CrmKind = Literal["hubspot", "salesforce", "slack", "webhook"]
"""The CRMs Leadfarm has connectors for (router/connectors/)."""


CrmOwnerId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")
]


CRM_OWNER_IDS = (
    'The rep\'s id in each CRM, by connector kind, e.g. {"hubspot": "123"} (a HubSpot '
    'owner id), {"salesforce": "005..."} (a Salesforce user id) or {"webhook": '
    '"dialer-user-17"} (their user id in a dialer or sequencer posting the generic activity '
    "webhook): who owns the records a connector writes, and who logged an activity a "
    "connector takes in"
)


ROUTER_EVENT_TYPES = sorted(t for t, m in EVENT_TYPES.items() if m.SERVICE == "router")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)
