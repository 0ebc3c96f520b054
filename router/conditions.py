"""Rule conditions as people write them: AND/OR groups of tests on any lead field.

A condition is either a **group** (`{"all": [...]}`: every member holds; `{"any": [...]}`:
at least one does; groups nest) or a **test** (`{"field", "op", "value"}`). A test's field
is any field of the lead's profile (`country`, `employees`, `job_title`, `source_class`,
...), a form answer (`answers.<question>`), a UTM value (`utm.<parameter>`, e.g.
`utm.utm_source`) or the qualifier's `score`.

Semantics, chosen to be unsurprising:

- Text compares with case and surrounding spaces ignored.
- A list field (`product_interest`, `flags`) holds a test when any of its items does.
- A test on a field the lead does not have fails, except `not_exists`; a negated operator
  (`not_equals`, `not_in`, `not_contains`, `not_starts_with`) is the exact opposite of its
  positive one, so it holds for a lead without the field (add `exists` to require it).
- Ordering operators compare numbers; an answer or UTM value that is not a number fails
  them.

`evaluate` is a pure function of the conditions, the lead and its score, and returns the
outcome of every node with a sentence each, so the dry run and the stored explanation can
say which condition held or failed (`path` names the node as a field path would:
`conditions.any.1.all.0`). Validation names the offending node the same way
(`conditions.any.1.all.0.op`).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from contracts.events import LeadProfile, SourceClass
from services.controlchars import refuse_control_characters

Op = Literal[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "not_starts_with",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "exists",
    "not_exists",
]
Kind = Literal["text", "number", "bool", "list", "map"]

NEGATIONS: dict[str, str] = {
    "not_equals": "equals",
    "not_in": "in",
    "not_contains": "contains",
    "not_starts_with": "starts_with",
    "not_exists": "exists",
}
OP_WORDS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "not_starts_with": "does not start with",
    "greater_than": "greater than",
    "greater_or_equal": "at least",
    "less_than": "less than",
    "less_or_equal": "at most",
    "exists": "exists",
    "not_exists": "does not exist",
}
"""How an explanation says each operator."""
ORDERING = frozenset({"greater_than", "greater_or_equal", "less_than", "less_or_equal"})
TEXT_OPS = frozenset({"contains", "starts_with"})
MAX_DEPTH = 8
MAX_TESTS = 200
MAX_VALUES = 1000
SCORE = "score"
"""The qualifier's score: not a profile field, but a rule may test it like one."""

OPS: tuple[str, ...] = typing.get_args(Op)


def _kind(annotation: Any) -> Kind:
    """A profile field's kind, from its type annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if origin is list:
        return "list"
    if origin is dict:
        return "map"
    if annotation is bool:
        return "bool"
    if annotation is int or annotation is float:
        return "number"
    return "text"


FIELDS: dict[str, Kind] = {
    name: _kind(info.annotation) for name, info in LeadProfile.model_fields.items()
} | {SCORE: "number"}
"""Every field a test may name, and its kind. `answers` and `utm` are maps: a test names
one of their keys (`answers.<question>`, `utm.<parameter>`)."""

FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "source_class": typing.get_args(SourceClass),
}


def field_kind(field: str) -> Kind:
    """The kind of what `field` names (a map's key is text); KeyError when unknown."""
    head, dot, key = field.partition(".")
    kind = FIELDS[head]
    if kind == "map":
        if not dot or not key.strip():
            raise KeyError(field)
        return "text"
    if dot:
        raise KeyError(field)
    return kind


def _numeric_text(field: str) -> bool:
    """Text that may hold numbers: answers and UTM values (a form's "team size")."""
    return FIELDS.get(field.partition(".")[0]) == "map"


class Condition(BaseModel):
    """A group (`all` or `any`, a list of conditions) or a test (`field`, `op`, `value`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # One schema for requests and answers: it nests itself, which would otherwise make
        # OpenAPI name two (Condition-Input and Condition-Output) of one model.
        json_schema_mode_override="validation",
        json_schema_extra={
            "examples": [
                {"field": "utm.utm_source", "op": "in", "value": ["linkedin", "google"]},
                {
                    "any": [
                        {"field": "answers.team_size", "op": "greater_or_equal", "value": 50},
                        {"field": "job_title", "op": "contains", "value": "head of"},
                    ]
                },
            ]
        },
    )
    _no_control_characters = field_validator("*")(refuse_control_characters)

    all: list[Condition] | None = Field(None, min_length=1, description="Every one of these holds")
    any: list[Condition] | None = Field(
        None, min_length=1, description="At least one of these holds"
    )
    field: str | None = Field(
        None,
        max_length=250,
        description="A lead field (country, employees, job_title, ...), answers.<question>, "
        "utm.<parameter> or score",
    )
    op: Op | None = None
    value: Any = Field(
        None,
        description="A text, number or boolean; a list for in and not_in; none for exists "
        "and not_exists",
    )

    @field_validator("field")
    @classmethod
    def _field(cls, field: str | None) -> str | None:
        if field is None:
            return None
        field = field.strip()
        try:
            field_kind(field)
        except KeyError:
            head = field.partition(".")[0]
            if FIELDS.get(head) == "map":
                raise ValueError(f"name the {head} key, as {head}.<key>") from None
            raise ValueError(
                f"unknown field {field!r}; one of {', '.join(_field_names())}"
            ) from None
        return field

    @field_validator("op")
    @classmethod
    def _op(cls, op: str | None, info: ValidationInfo) -> str | None:
        field = info.data.get("field")
        if op is None or field is None:
            return op
        kind = field_kind(field)
        positive = NEGATIONS.get(op, op)
        if op in ORDERING and kind != "number" and not _numeric_text(field):
            raise ValueError(f"{op} needs a number field; {field} is {_kind_words(kind)}")
        if positive in TEXT_OPS and kind not in ("text", "list"):
            raise ValueError(f"{op} needs a text field; {field} is {_kind_words(kind)}")
        if positive == "in" and kind == "bool":
            raise ValueError(f"{field} is yes or no: use equals")
        return op

    @field_validator("value")
    @classmethod
    def _value(cls, value: Any, info: ValidationInfo) -> Any:
        field, op = info.data.get("field"), info.data.get("op")
        if field is None or op is None:
            return value
        kind = field_kind(field)
        positive = NEGATIONS.get(op, op)
        if positive == "exists":
            if value is not None:
                raise ValueError(f"{op} takes no value")
            return None
        if positive == "in":
            if not isinstance(value, list) or not value:
                raise ValueError(f"{op} needs a list of values")
            if len(value) > MAX_VALUES:
                raise ValueError(f"at most {MAX_VALUES} values")
            return [_scalar(field, kind, op, v) for v in value]
        if isinstance(value, list):
            raise ValueError(f"{op} takes one value (in and not_in take a list)")
        if op in ORDERING:
            if not _is_number(value):
                raise ValueError(f"{op} needs a number")
            return value
        if positive in TEXT_OPS:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{op} needs some text")
            return value
        return _scalar(field, kind, op, value)

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        group = [k for k in ("all", "any") if getattr(self, k) is not None]
        test = self.field is not None or self.op is not None or self.value is not None
        if len(group) > 1:
            raise ValueError("a group is either all or any; nest one in the other for both")
        if group and test:
            raise ValueError(
                "a condition is either a group (all or any) or a test (field, op, value)"
            )
        if not group:
            if self.field is None or self.op is None:
                raise ValueError(
                    "a condition is either a group (all or any) or a test: "
                    "field and op are required"
                )
            if self.op not in ("exists", "not_exists") and self.value is None:
                raise ValueError(f"{self.op} needs a value")
        return self

    @property
    def members(self) -> list[Condition] | None:
        return self.all if self.all is not None else self.any


def _kind_words(kind: Kind) -> str:
    return {"text": "text", "number": "a number", "bool": "yes or no", "list": "a list"}.get(
        kind, kind
    )


def _field_names() -> list[str]:
    return [f"{n}.<key>" if k == "map" else n for n, k in FIELDS.items()]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(field: str, kind: Kind, op: str, value: Any) -> Any:
    """One value of equals/in (or their negations), checked against the field's kind."""
    if kind == "number":
        if not _is_number(value):
            raise ValueError(f"{field} is a number; {op} needs numbers")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{field} is yes or no; {op} needs true or false")
        return value
    if isinstance(value, bool) or not (isinstance(value, str) or _is_number(value)):
        raise ValueError(f"{field} is text; {op} needs text")
    choices = FIELD_CHOICES.get(field)
    if choices and str(value).strip().lower() not in choices:
        raise ValueError(f"{value!r} is not a {field}; one of {', '.join(choices)}")
    if field == "country" and (len(str(value).strip()) != 2 or not str(value).isalpha()):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return value


def check_size(members: Sequence[Condition]) -> None:
    """Refuse a tree deeper than MAX_DEPTH or with more than MAX_TESTS tests."""
    tests = 0

    def walk(nodes: Sequence[Condition], depth: int) -> None:
        nonlocal tests
        if depth > MAX_DEPTH:
            raise ValueError(f"groups nest at most {MAX_DEPTH} deep")
        for node in nodes:
            children = node.members
            if children is None:
                tests += 1
            else:
                walk(children, depth + 1)
        if tests > MAX_TESTS:
            raise ValueError(f"at most {MAX_TESTS} tests in a rule")

    walk(members, 1)


# --- evaluating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one node of a rule's conditions came out for one lead."""

    path: str
    matched: bool
    detail: str
    """A test: what it asked and what the lead has; a group: all or any."""
    children: tuple[Outcome, ...] = ()
    group: bool = False

    def failures(self) -> list[str]:
        """The tests that made this node fail (none when it held)."""
        if self.matched:
            return []
        if not self.group:
            return [self.detail]
        return [f for child in self.children for f in child.failures()]

    def reasons(self) -> list[str]:
        """The tests that made this node hold (none when it failed): in a group that held,
        those of its members that held."""
        if not self.matched:
            return []
        if not self.group:
            return [self.detail]
        return [r for child in self.children for r in child.reasons()]

    def as_json(self) -> dict[str, Any]:
        if self.group:
            return {
                "path": self.path,
                "matched": self.matched,
                self.detail: [c.as_json() for c in self.children],
            }
        return {"path": self.path, "matched": self.matched, "detail": self.detail}


def evaluate_group(
    kind: Literal["all", "any"],
    members: Sequence[Condition],
    lead: LeadProfile,
    score: int | None,
    path: str,
) -> Outcome:
    children = tuple(
        evaluate(node, lead, score, f"{path}.{kind}.{i}") for i, node in enumerate(members)
    )
    held = [c.matched for c in children]
    return Outcome(path, all(held) if kind == "all" else any(held), kind, children, group=True)


def evaluate(condition: Condition, lead: LeadProfile, score: int | None, path: str) -> Outcome:
    """The outcome of one condition (a group or a test) for this lead."""
    if condition.all is not None:
        return evaluate_group("all", condition.all, lead, score, path)
    if condition.any is not None:
        return evaluate_group("any", condition.any, lead, score, path)
    assert condition.field is not None
    assert condition.op is not None
    actual = lead_value(lead, score, condition.field)
    matched, shown = _test(condition.op, condition.value, actual)
    words = OP_WORDS[condition.op]
    asked = f"{condition.field} {words}" + (
        "" if condition.value is None else f" {_show(condition.value)}"
    )
    return Outcome(path, matched, f"{asked}: {shown}")


def lead_value(lead: LeadProfile, score: int | None, field: str) -> Any:
    """What the lead has for `field`: None when it has nothing."""
    head, _, key = field.partition(".")
    if head == SCORE:
        return score
    value = getattr(lead, head)
    if isinstance(value, dict):
        wanted = key.strip().casefold()
        value = next((v for k, v in value.items() if k.strip().casefold() == wanted), None)
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, list) and not value:
        return None
    return value


def _test(op: str, expected: Any, actual: Any) -> tuple[bool, str]:
    """(whether `op` holds, what the lead has, in words)."""
    positive = NEGATIONS.get(op)
    if positive is not None:
        held, shown = _test(positive, expected, actual)
        return not held, shown
    if actual is None:
        return False, "unknown"
    if op == "exists":
        return True, f"is {_show(actual)}"
    items = actual if isinstance(actual, list) else [actual]
    shown = f"is {_show(actual)}"
    if op in ORDERING:
        number = _number(actual)
        if number is None:
            return False, f"{_show(actual)} is not a number"
        return _compare(op, number, float(expected)), shown
    if op == "equals":
        return any(_same(item, expected) for item in items), shown
    if op == "in":
        return any(_same(item, e) for item in items for e in expected), shown
    needle = _text(expected)
    if op == "contains":
        return any(needle in _text(item) for item in items), shown
    if op == "starts_with":
        return any(_text(item).startswith(needle) for item in items), shown
    raise ValueError(f"unknown operator {op!r}")


def _compare(op: str, actual: float, expected: float) -> bool:
    if op == "greater_than":
        return actual > expected
    if op == "greater_or_equal":
        return actual >= expected
    if op == "less_than":
        return actual < expected
    return actual <= expected


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)
    if _is_number(expected) and isinstance(actual, str):
        number = _number(actual)
        return number is not None and number == float(expected)
    return _text(actual) == _text(expected)


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return repr(value)
    return str(value)
