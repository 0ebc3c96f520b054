"""Email templates: Jinja2 in a sandbox (templates come from the manager API too), the HTML
part autoescaped, the subject a single line. Every email carries its unsubscribe link: a
template that does not place `unsubscribe_url` itself gets a standard footer.

Variables: `lead` (the lead's profile: first_name, last_name, full_name, company, job_title,
industry, country, product_interest, ...), `track` (id, name), `step` (number, day),
`sender` (name, address), `unsubscribe_url`, and `link(url, key_page=False)`, which
returns a tracked link (a click is an engagement; a key page counts more).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from contracts.events import LeadProfile
from nurture.definitions import TemplateDef

_TEXT = ImmutableSandboxedEnvironment(
    autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True
)
_HTML = ImmutableSandboxedEnvironment(
    autoescape=True, undefined=ChainableUndefined, keep_trailing_newline=True
)
LEAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "full_name",
    "company",
    "company_domain",
    "job_title",
    "industry",
    "employees",
    "country",
    "region",
    "language",
    "product_interest",
    "campaign",
    "source",
)
LinkMaker = Callable[[str, bool], str]


class RenderError(ValueError):
    """A template that cannot be rendered (unknown variable, bad syntax)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class RenderContext:
    lead: LeadProfile
    track_id: str
    track_name: str
    step: int
    day: int
    unsubscribe_url: str
    link: LinkMaker
    sender_name: str
    sender_address: str


@functools.lru_cache(maxsize=512)
def _compile(html: bool, source: str) -> Template:
    return (_HTML if html else _TEXT).from_string(source)


def _variables(ctx: RenderContext) -> dict[str, Any]:
    def link(url: str, key_page: bool = False) -> str:
        url = str(url)
        if not url.lower().startswith(("https://", "http://")):
            raise RenderError(f"link() takes an http(s) URL, not {url[:80]!r}")
        return ctx.link(url, bool(key_page))

    lead = {f: getattr(ctx.lead, f) for f in LEAD_FIELDS}
    return {
        "lead": lead,
        "track": {"id": ctx.track_id, "name": ctx.track_name},
        "step": {"number": ctx.step, "day": ctx.day},
        "sender": {"name": ctx.sender_name, "address": ctx.sender_address},
        "unsubscribe_url": ctx.unsubscribe_url,
        "link": link,
    }


TEXT_FOOTER = "\n\n--\nYou get these emails from {sender}. Unsubscribe: {url}\n"
HTML_FOOTER = (
    '\n<hr><p style="font-size:12px;color:#666">You get these emails from {sender}. '
    '<a href="{url}">Unsubscribe</a></p>\n'
)


def render(template: TemplateDef, ctx: RenderContext) -> Rendered:
    variables = _variables(ctx)
    try:
        subject = _compile(False, template.subject).render(variables)
        text = _compile(False, template.text).render(variables)
        html = _compile(True, template.html).render(variables) if template.html else None
    except (TemplateError, RenderError, TypeError, ValueError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
    # A subject is one header line: no line breaks (header injection), at most 998 octets.
    subject = " ".join(subject.split())[:900]
    if "unsubscribe_url" not in template.text:
        text += TEXT_FOOTER.format(sender=ctx.sender_name, url=ctx.unsubscribe_url)
    if html is not None and template.html and "unsubscribe_url" not in template.html:
        html += HTML_FOOTER.format(sender=escape(ctx.sender_name), url=escape(ctx.unsubscribe_url))
    return Rendered(subject=subject, text=text, html=html)


SAMPLE_LEAD = LeadProfile(
    email="sam@example.com",
    first_name="Sam",
    last_name="Example",
    company="Example Ltd",
    job_title="Head of Sales",
    source="sample",
)


def sample_context() -> RenderContext:
    return RenderContext(
        lead=SAMPLE_LEAD,
        track_id="sample",
        track_name="Sample",
        step=1,
        day=0,
        unsubscribe_url="https://example.com/unsubscribe?token=sample",
        link=lambda url, key_page: url,
        sender_name="Leadfarm",
        sender_address="nurture@example.com",
    )


def template_errors(template: TemplateDef) -> list[tuple[str, str]]:
    """(part, message) of every part that does not compile or render for a sample lead."""
    errors: list[tuple[str, str]] = []
    parts = {"subject": template.subject, "text": template.text, "html": template.html}
    for part, source in parts.items():
        if source is None:
            continue
        try:
            _compile(part == "html", source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            errors.append((part, f"line {line}: {exc}" if line else str(exc)))
    if not errors:
        try:
            render(template, sample_context())
        except RenderError as exc:
            errors.append(("text", f"does not render for a sample lead: {exc}"))
    return errors
