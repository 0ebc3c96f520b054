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
input, named by field id: "1.3" (first name), "1.6" (last name), "2" (email), ... The
source's `field_map` names them, e.g. `{"1.3": "first_name", "1.6": "last_name", "2":
"email", "3": "phone"}`. What it leaves unnamed is recognised where the entry shows it
(`recognised`): the first field id holding a valid email address is the email, the first
holding a phone-shaped value the phone, and the first Name field (sub-inputs .3 first and
.6 last, with no others than prefix .2, middle .4 and suffix .8) the names. An entry that
is still unusable is refused with a field_map to set. With "Select Fields" the keys are
whatever the feed names them, and well-known names map by themselves.

UTM parameters and click ids (gclid, ...) in the entry's `source_url` (the page the form
was submitted on) are kept as the lead's UTM parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import orjson

from ingest.mapping import ALIASES, CLICK_ID_KEYS, UTM_KEYS, key_of
from ingest.normalise import emails
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
        field_map = source.settings.get("field_map") or {}
        return Parsed(leads=[_cleaned(lead, field_map) for lead in parsed.leads])


# A field id: "2", or an input of a multi-input field, "1.3".
_FIELD_ID = re.compile(r"^([0-9]{1,6})(?:\.([0-9]{1,3}))?$")
# The inputs of a Name field (https://docs.gravityforms.com/name/): prefix, first, middle,
# last, suffix. An Address (.1 street ... .6 country), a Product (.1 .2 .3) or checkboxes
# (.1, .2, ...) have other inputs, so a field whose inputs are all among these is a name.
_NAME_INPUTS = {"2", "3", "4", "6", "8"}
_NAME_TARGETS = {"3": "first_name", "6": "last_name"}
_CONTACT = ("email", "phone")
# Phone-shaped: digits with the separators people type, 7 to 15 digits (E.164's most), and
# a sign that it is not a plain number: a leading + or 0, parentheses or a separator.
_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-]+$")
_PHONE_SIGN = re.compile(r"^[+0(]|[0-9][ ().\-]+[0-9]")
_DATE = re.compile(r"^[0-9]{1,4}[-.][0-9]{1,2}[-.][0-9]{1,4}$")


def recognised(fields: Mapping[str, str], field_map: Mapping[str, str]) -> dict[str, str]:
    """Lead fields recognised among the entry's field ids that neither `field_map` nor a
    well-known name already provides: field id -> lead field."""
    explicit = {key_of(k): v for k, v in field_map.items()}
    # A lead field the field_map names comes from where it says, even when this entry
    # lacks that id.
    provided = {*explicit.values(), *(ALIASES.get(key_of(k)) for k in fields)}
    ids = sorted(
        (
            (m, name)
            for name in fields
            if (m := _FIELD_ID.match(name)) and key_of(name) not in explicit
        ),
        key=lambda item: (int(item[0].group(1)), int(item[0].group(2) or 0)),
    )
    found: dict[str, str] = {}
    inputs: dict[str, set[str]] = {}
    for match, _name in ids:
        if match.group(2) is not None:
            inputs.setdefault(match.group(1), set()).add(match.group(2))
    names = next(
        (f for f, subs in inputs.items() if subs <= _NAME_INPUTS and subs & set(_NAME_TARGETS)),
        None,
    )
    for match, name in ids:
        value = fields[name].strip()
        if not value:
            continue
        if match.group(1) == names and match.group(2) in _NAME_TARGETS:
            target = _NAME_TARGETS[match.group(2)]
        elif match.group(2) is None and _is_email(value):
            target = "email"
        elif match.group(2) is None and _is_phone(value):
            target = "phone"
        else:
            continue
        if target not in provided:
            found[name] = target
            provided.add(target)
    return found


def _is_email(value: str) -> bool:
    return "@" in value and emails.email(value).value is not None


def _is_phone(value: str) -> bool:
    if not _PHONE_CHARS.match(value) or _DATE.match(value) or not _PHONE_SIGN.search(value):
        return False
    return 7 <= sum(c.isdigit() for c in value) <= 15


def _hint(
    fields: Mapping[str, str], field_map: Mapping[str, str], found: Mapping[str, str]
) -> str | None:
    """Which field_map would make an entry without a recognised email or phone usable."""
    explicit = {key_of(k): v for k, v in field_map.items()}
    targets = {*explicit.values(), *(ALIASES.get(key_of(k)) for k in fields)}
    if targets & set(_CONTACT) or set(found.values()) & set(_CONTACT):
        return None
    ids = [name for name in fields if _FIELD_ID.match(name) and fields[name].strip()]
    if not ids:
        return None
    # Email and Phone fields have one input: their ids have no ".n".
    single = [name for name in ids if "." not in name and name not in found] or ids
    email = next((n for n in single if "@" in fields[n]), single[0])
    rest = [n for n in single if n != email]
    phone = next((n for n in rest if sum(c.isdigit() for c in fields[n]) >= 7), None)
    example = {email: "email"}
    if phone or rest:
        example[phone or rest[0]] = "phone"
    return (
        "Gravity Forms sends fields by id and none of this entry's holds a valid email address "
        "or phone number; name the form's Email or Phone field in the source's "
        f"settings.field_map, e.g. {orjson.dumps({**dict(field_map), **example}).decode()} "
        f"(this entry's field ids: {', '.join(ids[:20])})"
    )


def _cleaned(lead: RawLead, field_map: Mapping[str, str]) -> RawLead:
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
    found = recognised(lead.fields, field_map)
    return RawLead(
        external_id=lead.external_id,
        fields=fields,
        is_test=lead.is_test,
        utm=utm,
        click_ids=click_ids,
        consent_email=lead.consent_email,
        recognised=found,
        hint=_hint(fields, field_map, found),
    )


PROVIDER = GravityFormsProvider()
