"""The definitions file's shape, as strict pydantic models (`extra="forbid"`): every key of
docs/qualification.md, its type, bounds and default, read into `model.Definitions`.

The models validate the plain data `qualifier.definitions` builds from the YAML nodes. A
scalar that YAML 1.1 reads as a number, a flag or a date arrives as `WrittenScalar`, the text as
written carrying that value: a text field takes the text (Norway's `NO` stays `NO`, not
false), a number or a flag field takes the value (so a quoted "10" is not a number, as in
YAML). Each problem is a `PydanticCustomError` of type `definitions` whose message is what
the user reads after the key's path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qualifier.definitions.model import (
    CRITERIA,
    SOURCE_CLASSES,
    Definitions,
    Disqualifiers,
    EmployeeRange,
    EngagementPoints,
    IdealCustomerProfile,
    Keywords,
    Rule,
    Term,
)

MAX_VERSION_LENGTH = 64
MAX_TEXT_LENGTH = 500
MAX_HALF_LIFE_DAYS = 3650
HALF_LIFE_UNITS = {"hour": 1 / 24, "day": 1.0, "week": 7.0}
"""The units a half-life may be written in, in days; a plain number is days."""
_DURATION = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*(hours?|h|days?|d|weeks?|w)", re.IGNORECASE)
PROBLEM = "definitions"
"""The pydantic error type of a problem whose message is written for the user."""


class WrittenScalar(str):
    """A scalar YAML reads as something other than text (a number, true or false, a date):
    the text as written, with the `value` YAML reads."""

    value: object

    def __new__(cls, text: str, value: object) -> WrittenScalar:
        written = super().__new__(cls, text)
        written.value = value
        return written


def problem(message: str) -> PydanticCustomError:
    return PydanticCustomError(PROBLEM, "{message}", {"message": message})


# --- field types ----------------------------------------------------------------------------


def _text(max_length: int) -> Callable[[object], str]:
    def text(value: object) -> str:
        if not isinstance(value, str):
            raise problem("must be a text value")
        stripped = str.strip(value)
        if not stripped:
            raise problem("must not be empty")
        if len(stripped) > max_length:
            raise problem(f"must be at most {max_length} characters")
        return stripped

    return text


def _listed(expected: str) -> Callable[[object], list[object]]:
    """A list; a single value is read as a list of one, an empty value as an empty list."""

    def listed(value: object) -> list[object]:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise problem(f"must be {expected}")
        return value

    return listed


def _whole(low: int, high: int | None = None) -> Callable[[object], int]:
    def whole(value: object) -> int:
        number = value.value if isinstance(value, WrittenScalar) else None
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise problem("must be a number")
        if isinstance(number, float):
            raise problem("must be a whole number")
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise problem(f"must be {bound}")
        return number

    return whole


def _flag(value: object) -> bool:
    flag = value.value if isinstance(value, WrittenScalar) else None
    if not isinstance(flag, bool):
        raise problem("must be true or false")
    return flag


def _above_zero(value: object) -> float:
    number = value.value if isinstance(value, WrittenScalar) else None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise problem("must be a number")
    if not math.isfinite(number):
        raise problem("must be a finite number")
    if number <= 0:
        raise problem("must be a finite number above 0")
    return float(number)


def _known(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def known(name: str) -> str:
        if name not in allowed:
            raise problem(f"names an unknown value {name!r}; known: {', '.join(allowed)}")
        return name

    return known


def _country(code: str) -> str:
    if len(code) != 2 or not code.isalpha():
        raise problem(f"must be an ISO 3166-1 alpha-2 country code such as DE, not {code!r}")
    return code.upper()


def _half_life(value: object) -> float:
    """A positive duration: a number of days, or a number with a unit (`30 days`, `6 weeks`,
    `36 hours`)."""
    expected = "a positive number of days or a duration such as 30 days, 6 weeks, 36 hours"
    if not isinstance(value, str):
        raise problem(f"must be {expected}")
    text = str.strip(value).replace("_", "")
    number = value.value if isinstance(value, WrittenScalar) else None
    if isinstance(number, int | float) and not isinstance(number, bool):
        text += " days"
    match = _DURATION.fullmatch(text)
    if match is None:
        raise problem(f"must be {expected}, not {str(value)!r}")
    unit = match.group(2).lower().rstrip("s")
    unit = {"h": "hour", "d": "day", "w": "week"}.get(unit, unit)
    days = float(match.group(1)) * HALF_LIFE_UNITS[unit]
    if days <= 0:
        raise problem("must be positive: intent cannot halve in no time")
    if days > MAX_HALF_LIFE_DAYS:
        raise problem(f"must be at most {MAX_HALF_LIFE_DAYS} days")
    return days


Text = Annotated[str, BeforeValidator(_text(MAX_TEXT_LENGTH))]
Texts = Annotated[list[Text], BeforeValidator(_listed("a list of text values"))]
Criterion = Annotated[Text, AfterValidator(_known(CRITERIA))]
Criteria = Annotated[list[Criterion], BeforeValidator(_listed("a list of text values"))]
SourceClass = Annotated[Text, AfterValidator(_known(SOURCE_CLASSES))]
Country = Annotated[Text, AfterValidator(_country)]
Points = Annotated[int, BeforeValidator(_whole(0, 100))]
Days = Annotated[int, BeforeValidator(_whole(0, 3650))]
Count = Annotated[int, BeforeValidator(_whole(0))]
Flag = Annotated[bool, BeforeValidator(_flag)]


class FileSection(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- sections -------------------------------------------------------------------------------


class EmployeeRangeSection(FileSection):
    min: Count
    max: Annotated[int | None, BeforeValidator(_whole(0))] = None

    @field_validator("max")
    @classmethod
    def _not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min")
        if value is not None and low is not None and value < low:
            raise problem(f"must not be below min ({low})")
        return value


def _ranges(value: object) -> object:
    if not isinstance(value, list):
        raise problem("must be a list of ranges such as {min: 10, max: 5000}")
    return value


class ProfileSection(FileSection):
    industries: Texts = []
    employees: Annotated[list[EmployeeRangeSection], BeforeValidator(_ranges)] = []
    countries: Annotated[list[Country], BeforeValidator(_listed("a list of text values"))] = []
    titles: Texts = []
    product_interests: Texts = []

    def profile(self) -> IdealCustomerProfile:
        return IdealCustomerProfile(
            industries=Keywords(self.industries),
            employees=tuple(EmployeeRange(r.min, r.max) for r in self.employees),
            countries=frozenset(self.countries),
            titles=Keywords(self.titles),
            product_interests=Keywords(self.product_interests),
        )


class BadgeScanSection(FileSection):
    source_classes: Annotated[
        list[SourceClass], BeforeValidator(_listed("a list of text values"))
    ] = ["events"]
    interest: Criteria = list(Disqualifiers().badge_scan_interest)


def _badge_scan(value: object) -> object:
    """`false` turns the badge-scan disqualifier off; a mapping configures it."""
    if isinstance(value, WrittenScalar) and isinstance(value.value, bool):
        if value.value:
            raise problem("must be false or a mapping with source_classes and interest")
        return {"source_classes": [], "interest": []}
    return value


class DisqualifiersSection(FileSection):
    test_lead: Flag = Disqualifiers.test_lead
    no_contact: Flag = Disqualifiers.no_contact
    free_mail: Flag = Disqualifiers.free_mail
    competitor_domains: Texts = []
    student_or_job_seeker: Texts = []
    badge_scan_without_interest: Annotated[BadgeScanSection, BeforeValidator(_badge_scan)] = (
        BadgeScanSection(source_classes=[], interest=list(Disqualifiers().badge_scan_interest))
    )

    def disqualifiers(self) -> Disqualifiers:
        return Disqualifiers(
            test_lead=self.test_lead,
            no_contact=self.no_contact,
            free_mail=self.free_mail,
            competitor_domains=tuple(
                d.lower().lstrip("@").rstrip(".") for d in self.competitor_domains
            ),
            student_or_job_seeker=Keywords(self.student_or_job_seeker),
            badge_scan_source_classes=tuple(self.badge_scan_without_interest.source_classes),
            badge_scan_interest=tuple(self.badge_scan_without_interest.interest),
        )


class RuleSection(FileSection):
    any_of: Criteria = []
    all_of: Criteria = []

    @model_validator(mode="after")
    def _needs_a_condition(self) -> RuleSection:
        if not self.model_fields_set:
            raise problem("needs any_of or all_of")
        return self

    def rule(self) -> Rule:
        return Rule(any_of=tuple(self.any_of), all_of=tuple(self.all_of))


def _rule_in(rule: Rule) -> RuleSection:
    return RuleSection(any_of=list(rule.any_of), all_of=list(rule.all_of))


class LifecycleSection(FileSection):
    target: RuleSection = _rule_in(Definitions.target)
    suspect: RuleSection = _rule_in(Definitions.suspect)
    prospect: RuleSection = _rule_in(Definitions.prospect)


class BasicQualifiedSection(FileSection):
    requires: Criteria = list(Definitions.basic_requires)


class SalesQualifiedSection(FileSection):
    requires: Criteria = list(Definitions.sales_requires)
    min_score: Points = Definitions.sales_min_score


class StagesSection(FileSection):
    basic_qualified: BasicQualifiedSection = BasicQualifiedSection()
    sales_qualified: SalesQualifiedSection = SalesQualifiedSection()


def _term(value: str) -> str:
    if value not in ("short", "long"):
        raise problem("must be short or long")
    return value


class TimeframeSection(FileSection):
    selection_window_days: Days = Definitions.selection_window_days
    short_term_days: Days = Definitions.short_term_days
    without_timeframe: Annotated[Text, AfterValidator(_term)] = Definitions.without_timeframe


class FitPointsSection(FileSection):
    company: Points = 0
    business_email: Points = 0
    icp_industry: Points = 0
    icp_employees: Points = 0
    icp_country: Points = 0
    icp_title: Points = 0
    icp_product: Points = 0


class IntentPointsSection(FileSection):
    product_interest: Points = 0
    need: Points = 0
    budget: Points = 0
    timeframe: Points = 0
    short_term: Points = 0
    asked_to_be_contacted: Points = 0


class PointsSection(FileSection):
    fit: FitPointsSection = FitPointsSection()
    intent: IntentPointsSection = IntentPointsSection()

    def points(self) -> dict[str, int]:
        """The points given, by criterion (criteria not given are worth none)."""
        return {
            name: getattr(group, name)
            for group in (self.fit, self.intent)
            for name in type(group).model_fields
            if name in group.model_fields_set
        }


class EngagementSection(FileSection):
    points: Points = 0
    full_at: Annotated[float, BeforeValidator(_above_zero)] = 100.0
    hand_raise: Texts = []

    def engagement(self) -> EngagementPoints:
        return EngagementPoints(
            points=self.points,
            full_at=self.full_at,
            hand_raise=tuple(h.lower() for h in self.hand_raise),
        )


class DecaySection(FileSection):
    intent_half_life: Annotated[float | None, BeforeValidator(_half_life)] = None


class DefinitionsFile(FileSection):
    """A whole definitions file; docs/qualification.md describes every key."""

    version: Annotated[str, BeforeValidator(_text(MAX_VERSION_LENGTH))] = Field(
        description="name this version of the definitions"
    )
    description: Text = ""
    ideal_customer_profile: ProfileSection = ProfileSection()
    disqualifiers: DisqualifiersSection = DisqualifiersSection()
    lifecycle: LifecycleSection = LifecycleSection()
    stages: StagesSection = StagesSection()
    timeframe: TimeframeSection = TimeframeSection()
    points: PointsSection = PointsSection()
    engagement: EngagementSection = EngagementSection()
    decay: DecaySection = DecaySection()

    def definitions(self) -> Definitions:
        term: Term = "short" if self.timeframe.without_timeframe == "short" else "long"
        return Definitions(
            version=self.version,
            description=self.description,
            icp=self.ideal_customer_profile.profile(),
            disqualifiers=self.disqualifiers.disqualifiers(),
            target=self.lifecycle.target.rule(),
            suspect=self.lifecycle.suspect.rule(),
            prospect=self.lifecycle.prospect.rule(),
            basic_requires=tuple(self.stages.basic_qualified.requires),
            sales_requires=tuple(self.stages.sales_qualified.requires),
            sales_min_score=self.stages.sales_qualified.min_score,
            selection_window_days=self.timeframe.selection_window_days,
            short_term_days=self.timeframe.short_term_days,
            without_timeframe=term,
            points=self.points.points(),
            engagement=self.engagement.engagement(),
            intent_half_life_days=self.decay.intent_half_life,
        )
