"""`gravity-forms`: a feed of the Gravity Forms Webhooks Add-On
(https://docs.gravityforms.com/triggering-webhooks-form-submissions/).

The feed POSTs the entry as JSON (Request Format: JSON) or form fields (FORM), and sends
the request headers configured in the feed; Leadfarm expects `Authorization: Bearer
<token>` there (the feed meta's `requestHeaders`,
https://docs.gravityforms.com/webhooks-feed-meta/), checked against every current value
of the source's `token`.

With Request Body "All Fields" the body is the Entry Object: the entry `id` (the external
id, so a re-sent entry stores nothing new), `form_id`, `date_created`, `source_url`, `ip`,
`user_agent`, bookkeeping (`is_starred`, `status`, payment fields, ...) and one key per
input, named by field id: "1.3" (first name), "1.6" (last name), "2" (email), ... Those
ids mean nothing by themselves: the source's `field_map` names them, e.g.
`{"1.3": "first_name", "1.6": "last_name", "2": "email", "3": "phone"}`. With "Select
Fields" the keys are whatever the feed names them, and well-known names map by
themselves.

UTM parameters and click ids (gclid, ...) in the entry's `source_url` (the page the form
was submitted on) are kept as the lead's UTM parameters.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ingest.mapping import CLICK_ID_KEYS, UTM_KEYS
from ingest.providers.base import Parsed, RawLead, Source, WebhookRequest
from ingest.providers.zapier import BearerTokenProvider

# Entry Object properties that are not lead data (https://docs.gravityforms.com/entry-object/).
_BOOKKEEPING = {
    "post_id",
    "is_starred",
    "is_read",
    "ip",
    "user_agent",
    "status",
    "created_by",
    "currency",
    "payment_status",
    "payment_date",
    "payment_amount",
    "payment_method",
    "transaction_id",
    "is_fulfilled",
    "transaction_type",
    "date_updated",
}


class GravityFormsProvider(BearerTokenProvider):
    name = "gravity-forms"
    id_fields = ("id",)

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        parsed = super().parse(request, source)
        return Parsed(leads=[_cleaned(lead) for lead in parsed.leads])


def _cleaned(lead: RawLead) -> RawLead:
    fields = {k: v for k, v in lead.fields.items() if k not in _BOOKKEEPING and v.strip() != ""}
    utm: dict[str, str] = dict(lead.utm)
    click_ids: dict[str, str] = dict(lead.click_ids)
    source_url = fields.get("source_url", "")
    for key, value in parse_qsl(urlsplit(source_url).query, keep_blank_values=False):
        normal = key.lower()
        if normal in UTM_KEYS:
            utm.setdefault(normal, value)
        elif normal in CLICK_ID_KEYS:
            click_ids.setdefault(normal, value)
    return RawLead(
        external_id=lead.external_id,
        fields=fields,
        is_test=lead.is_test,
        utm=utm,
        click_ids=click_ids,
        consent_email=lead.consent_email,
    )


PROVIDER = GravityFormsProvider()
