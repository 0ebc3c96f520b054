"""Templates render with variables in a sandbox; HTML is autoescaped; every email carries
its unsubscribe link."""

from __future__ import annotations

import pytest

from contracts.events import LeadProfile
from nurture.definitions import TemplateDef
from nurture.templates import RenderContext, RenderError, render, template_errors

LEAD = LeadProfile(
    email="ada@evil.example",
    first_name="Ada",
    company='<script>alert("x")</script> & Co',
    source="test",
)


def context(**changes: object) -> RenderContext:
    values: dict[str, object] = {
        "lead": LEAD,
        "track_id": "t",
        "track_name": "Track",
        "step": 2,
        "day": 3,
        "unsubscribe_url": "https://lf.example/nurture/v1/unsubscribe?token=abc&x=1",
        "link": lambda url, key_page: f"https://lf.example/r?u={url}&k={int(key_page)}",
        "sender_name": "Leadfarm",
        "sender_address": "n@lf.example",
    }
    values.update(changes)
    return RenderContext(**values)  # type: ignore[arg-type]


def test_variables_render_and_html_is_autoescaped_but_text_is_not() -> None:
    template = TemplateDef(
        subject="Hi {{ lead.first_name }}\nBcc: everyone@example.com",
        text="Dear {{ lead.first_name }} at {{ lead.company }}, step {{ step.number }}.",
        html="<p>{{ lead.company }}</p>"
        "<a href='{{ link('https://x.example/p', key_page=True) }}'>p</a>",
    )
    out = render(template, context())
    assert out.subject == "Hi Ada Bcc: everyone@example.com", "one header line"
    assert '<script>alert("x")</script> & Co' in out.text
    assert out.html is not None
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in out.html
    assert "https://lf.example/r?u=https://x.example/p&amp;k=1" in out.html


def test_every_email_carries_the_unsubscribe_link() -> None:
    plain = render(TemplateDef(subject="s", text="Hello", html="<p>Hello</p>"), context())
    assert plain.text.endswith(
        "Unsubscribe: https://lf.example/nurture/v1/unsubscribe?token=abc&x=1\n"
    )
    assert plain.html is not None
    assert 'href="https://lf.example/nurture/v1/unsubscribe?token=abc&amp;x=1"' in plain.html
    placed = render(TemplateDef(subject="s", text="Bye: {{ unsubscribe_url }}"), context())
    assert placed.text == "Bye: https://lf.example/nurture/v1/unsubscribe?token=abc&x=1"


def test_missing_values_render_empty_and_defaults_apply() -> None:
    anonymous = LeadProfile(email="x@y.example", source="test")
    out = render(
        TemplateDef(
            subject="s", text="Hello {{ lead.first_name or 'there' }}{{ lead.nope.deeper }}!"
        ),
        context(lead=anonymous),
    )
    assert out.text.startswith("Hello there!")


def test_the_sandbox_and_link_refuse_what_a_template_must_not_do() -> None:
    with pytest.raises(RenderError):
        render(
            TemplateDef(
                subject="s", text="{{ lead.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}"
            ),
            context(),
        )
    with pytest.raises(RenderError, match="http"):
        render(TemplateDef(subject="s", text="{{ link('javascript:alert(1)') }}"), context())


def test_template_errors_name_the_part_and_line() -> None:
    errors = template_errors(TemplateDef(subject="ok", text="line one\n{% if %}"))
    assert errors
    assert errors[0][0] == "text"
    assert "line 2" in errors[0][1]
    assert template_errors(TemplateDef(subject="{{ lead.first_name }}", text="fine")) == []
