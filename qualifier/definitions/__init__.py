"""The qualification definitions: the written-down, versioned agreement between marketing and
sales on what a target, suspect and prospect are, what basic- and sales-qualified mean, who
is disqualified and how many points each criterion is worth.

A definitions file is YAML. It is validated when it is loaded (at start for the file, on
every `PUT /qualifier/v1/definitions`); every problem names its line, e.g.
`definitions.yaml line 12: points.fit.company must be a whole number`. See
docs/qualification.md for every key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

DEFAULT_FILE = Path(__file__).parent / "default.yaml"

Term = Literal["short", "long"]

# The criteria the qualifier can evaluate. Definitions give them points and combine them
# into the lifecycle and stage rules; the code decides whether each one matched.
BASIC_CRITERIA = ("reachable", "named")
FIT_CRITERIA = (
    "company",
    "business_email",
    "icp_industry",
    "icp_employees",
    "icp_country",
    "icp_title",
    "icp_product",
)
INTENT_CRITERIA = (
    "product_interest",
    "need",
    "budget",
    "timeframe",
    "short_term",
    "asked_to_be_contacted",
    "engagement",
)
CRITERIA = BASIC_CRITERIA + FIT_CRITERIA + INTENT_CRITERIA
DISQUALIFIERS = (
    "test_lead",
    "no_contact",
    "competitor",
    "free_mail",
    "student_or_job_seeker",
    "badge_scan_without_interest",
)
SOURCE_CLASSES = ("marketing", "events", "referrals", "rep_prospecting")
MAX_VERSION_LENGTH = 64
MAX_TEXT = 256 * 1024
MAX_DEPTH = 32
MAX_HALF_LIFE_DAYS = 3650
HALF_LIFE_UNITS = {"hour": 1 / 24, "day": 1.0, "week": 7.0}
"""The units a half-life may be written in, in days; a plain number is days."""
_DURATION = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*(hours?|h|days?|d|weeks?|w)", re.IGNORECASE)
"""How deeply the YAML may nest: PyYAML composes recursively, so a document nested a few
thousand levels deep overflowed the stack (a 500) before anything was validated."""


# --- the validated definitions --------------------------------------------------------------


class Keywords:
    """Case-insensitive whole-word keywords ("vp" matches "VP Sales", not "mvp")."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(words)
        alternation = "|".join(
            re.escape(w.lower()) for w in sorted(self.words, key=len, reverse=True)
        )
        self._pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)") if self.words else None

    def find(self, text: str | None) -> str | None:
        """The first keyword `text` mentions, or None."""
        if self._pattern is None or not text:
            return None
        match = self._pattern.search(text.lower())
        return match.group(0) if match else None

    def __bool__(self) -> bool:
        return bool(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keywords) and other.words == self.words

    def __hash__(self) -> int:
        return hash(self.words)

    def __repr__(self) -> str:
        return f"Keywords({list(self.words)!r})"


@dataclass(frozen=True)
class EmployeeRange:
    min: int
    max: int | None = None

    def contains(self, employees: int) -> bool:
        return employees >= self.min and (self.max is None or employees <= self.max)

    def __str__(self) -> str:
        return f"{self.min}+" if self.max is None else f"{self.min}-{self.max}"


@dataclass(frozen=True)
class IdealCustomerProfile:
    industries: Keywords = field(default_factory=lambda: Keywords(()))
    employees: tuple[EmployeeRange, ...] = ()
    countries: frozenset[str] = frozenset()
    titles: Keywords = field(default_factory=lambda: Keywords(()))
    product_interests: Keywords = field(default_factory=lambda: Keywords(()))


@dataclass(frozen=True)
class Disqualifiers:
    test_lead: bool = True
    no_contact: bool = True
    free_mail: bool = False
    competitor_domains: tuple[str, ...] = ()
    student_or_job_seeker: Keywords = field(default_factory=lambda: Keywords(()))
    badge_scan_source_classes: tuple[str, ...] = ()
    badge_scan_interest: tuple[str, ...] = ("product_interest", "need", "asked_to_be_contacted")


@dataclass(frozen=True)
class Rule:
    """Holds when any of `any_of` matched (or `any_of` is empty) and all of `all_of` did."""

    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()

    def holds(self, matched: set[str]) -> bool:
        return (not self.any_of or any(c in matched for c in self.any_of)) and all(
            c in matched for c in self.all_of
        )

    def describe(self) -> str:
        parts = []
        if self.any_of:
            parts.append("any of " + ", ".join(self.any_of))
        if self.all_of:
            parts.append("all of " + ", ".join(self.all_of))
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class Engagement:
    points: int = 0
    full_at: float = 100.0
    hand_raise: tuple[str, ...] = ()


@dataclass(frozen=True)
class Definitions:
    version: str
    description: str = ""
    icp: IdealCustomerProfile = field(default_factory=IdealCustomerProfile)
    disqualifiers: Disqualifiers = field(default_factory=Disqualifiers)
    target: Rule = Rule(any_of=("company", "business_email"))
    suspect: Rule = Rule(any_of=("timeframe", "need", "product_interest"))
    prospect: Rule = Rule(all_of=("asked_to_be_contacted",))
    basic_requires: tuple[str, ...] = ("reachable",)
    sales_requires: tuple[str, ...] = ("asked_to_be_contacted", "timeframe")
    sales_min_score: int = 0
    selection_window_days: int = 365
    short_term_days: int = 90
    without_timeframe: Term = "long"
    points: dict[str, int] = field(default_factory=dict)
    engagement: Engagement = field(default_factory=Engagement)
    intent_half_life_days: float | None = None
    """Stated intent's points halve every this many days since the last intent signal;
    None: intent does not decay."""

    def points_for(self, criterion: str) -> int:
        if criterion == "engagement":
            return self.engagement.points
        return self.points.get(criterion, 0)


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One problem in a definitions file: where (line, dotted path) and what."""

    line: int
    path: str
    message: str

    def render(self, source: str) -> str:
        where = f"{self.path} " if self.path else ""
        return f"{source} line {self.line}: {where}{self.message}"


class DefinitionsError(ValueError):
    """The definitions do not validate; `issues` names each problem's line."""

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = sorted(issues, key=lambda i: (i.line, i.path))
        super().__init__("\n".join(i.render(source) for i in self.issues))

    def lines(self) -> list[str]:
        return [i.render(self.source) for i in self.issues]


# --- loading ------------------------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH, as a YAML error at its line."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nests deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


def load_file(path: Path) -> Definitions:
    """Read and validate a definitions file. Raises DefinitionsError naming its lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionsError(path.name, [Issue(1, "", f"cannot be read: {exc}")]) from exc
    return parse(text, source=path.name)


def parse(text: str, source: str = "definitions.yaml") -> Definitions:
    """Validate definitions YAML. Raises DefinitionsError naming each problem's line."""
    if len(text) > MAX_TEXT:
        raise DefinitionsError(source, [Issue(1, "", f"is longer than {MAX_TEXT} characters")])
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "is not valid YAML"
        raise DefinitionsError(source, [Issue(line, "", f"is not valid YAML: {problem}")]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionsError(source, [Issue(1, "", f"is not valid YAML: {exc}")]) from exc
    if root is None:
        raise DefinitionsError(source, [Issue(1, "", "is empty; it needs at least a version")])
    reader = _Reader()
    definitions = reader.definitions(root)
    if reader.issues or definitions is None:
        raise DefinitionsError(source, reader.issues)
    return definitions


def version_of(text: str) -> str | None:
    """The `version` of definitions text, without validating the rest (None if absent)."""
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        return None
    if isinstance(data, dict) and data.get("version") is not None:
        return str(data["version"])
    return None


# --- the validating reader ----------------------------------------------------------------


class _Reader:
    """Walks the YAML node tree (which keeps line numbers), collecting every problem."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self._seen: set[int] = set()

    def problem(self, node: Node, path: str, message: str) -> None:
        self.issues.append(Issue(node.start_mark.line + 1, path, message))

    # primitives ------------------------------------------------------------------------

    def mapping(
        self, node: Node, path: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[Node, Node]] | None:
        """key -> (key node, value node) of a mapping with only `allowed` keys."""
        if id(node) in self._seen:
            self.problem(node, path, "reuses an anchor; anchors and aliases are not supported")
            return None
        self._seen.add(id(node))
        if not isinstance(node, MappingNode):
            self.problem(node, path, "must be a mapping of keys to values")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            where = f"{path}.{key}" if path and key else (key or path)
            if key is None:
                self.problem(key_node, path, "has a key that is not a plain word")
            elif key in out:
                self.problem(key_node, where, "is given twice")
            elif key not in allowed:
                self.problem(
                    key_node, where, f"is not a known key; expected one of: {', '.join(allowed)}"
                )
            else:
                out[key] = (key_node, value_node)
        return out

    def string(self, node: Node, path: str, *, max_length: int = 500) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.problem(node, path, "must be a text value")
            return None
        value = str(node.value).strip()
        if not value:
            self.problem(node, path, "must not be empty")
            return None
        if len(value) > max_length:
            self.problem(node, path, f"must be at most {max_length} characters")
            return None
        return value

    def items(self, node: Node, path: str) -> list[tuple[Node, str]] | None:
        """(node, text) of each entry of a list of text values (a single value is read as a
        list of one, an empty value as an empty list)."""
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if isinstance(node, ScalarNode):
            one = self.string(node, path)
            return [(node, one)] if one is not None else None
        if not isinstance(node, SequenceNode):
            self.problem(node, path, "must be a list of text values")
            return None
        out: list[tuple[Node, str]] = []
        for index, item in enumerate(node.value):
            value = self.string(item, f"{path}.{index}")
            if value is not None:
                out.append((item, value))
        return out

    def strings(self, node: Node, path: str) -> list[str] | None:
        items = self.items(node, path)
        return None if items is None else [value for _, value in items]

    def integer(self, node: Node, path: str, *, low: int, high: int | None = None) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag not in (
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        ):
            self.problem(node, path, "must be a number")
            return None
        if node.tag == "tag:yaml.org,2002:float":
            self.problem(node, path, "must be a whole number")
            return None
        value = int(str(node.value).replace("_", ""), 0)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problem(node, path, f"must be {bound}")
            return None
        return value

    def number(self, node: Node, path: str, *, above: float) -> float | None:
        if not isinstance(node, ScalarNode) or node.tag not in (
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        ):
            self.problem(node, path, "must be a number")
            return None
        try:
            value = float(str(node.value).replace("_", ""))
        except ValueError:
            self.problem(node, path, "must be a finite number")
            return None
        if not value > above or value != value or value in (float("inf"), float("-inf")):
            self.problem(node, path, f"must be a finite number above {above:g}")
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            self.problem(node, path, "must be true or false")
            return None
        return SafeConstructor.bool_values[str(node.value).lower()]

    def names(self, node: Node, path: str, allowed: tuple[str, ...] = CRITERIA) -> list[str]:
        """A list of names from `allowed` (criteria unless told otherwise)."""
        out = []
        for index, (item, name) in enumerate(self.items(node, path) or []):
            if name in allowed:
                out.append(name)
            else:
                self.problem(
                    item,
                    f"{path}.{index}",
                    f"names an unknown value {name!r}; known: {', '.join(allowed)}",
                )
        return out

    def read(
        self,
        fields: dict[str, tuple[Node, Node]],
        key: str,
        path: str,
        reader: Callable[[Node, str], Any],
    ) -> Any:
        """`reader` applied to `key`'s value when present, else None."""
        if key not in fields:
            return None
        return reader(fields[key][1], f"{path}.{key}" if path else key)

    # sections --------------------------------------------------------------------------

    def definitions(self, root: Node) -> Definitions | None:
        top = self.mapping(
            root,
            "",
            (
                "version",
                "description",
                "ideal_customer_profile",
                "disqualifiers",
                "lifecycle",
                "stages",
                "timeframe",
                "points",
                "engagement",
                "decay",
            ),
        )
        if top is None:
            return None
        version = None
        if "version" not in top:
            self.problem(root, "version", "is required: name this version of the definitions")
        else:
            version = self.string(top["version"][1], "version", max_length=MAX_VERSION_LENGTH)
        description = self.read(top, "description", "", self.string) or ""
        icp = self.read(top, "ideal_customer_profile", "", self.icp) or IdealCustomerProfile()
        disqualifiers = self.read(top, "disqualifiers", "", self.disqualifiers) or Disqualifiers()
        lifecycle = self.read(top, "lifecycle", "", self.lifecycle) or {}
        stages = self.read(top, "stages", "", self.stages) or {}
        timeframe = self.read(top, "timeframe", "", self.timeframe) or {}
        points = self.read(top, "points", "", self.points) or {}
        engagement = self.read(top, "engagement", "", self.engagement) or Engagement()
        decay = self.read(top, "decay", "", self.decay) or {}
        if version is None:
            return None
        return Definitions(
            version=version,
            description=description,
            icp=icp,
            disqualifiers=disqualifiers,
            **lifecycle,
            **stages,
            **timeframe,
            points=points,
            engagement=engagement,
            **decay,
        )

    def icp(self, node: Node, path: str) -> IdealCustomerProfile | None:
        fields = self.mapping(
            node, path, ("industries", "employees", "countries", "titles", "product_interests")
        )
        if fields is None:
            return None
        countries: list[str] = []
        if "countries" in fields:
            where = f"{path}.countries"
            for index, (item, code) in enumerate(self.items(fields["countries"][1], where) or []):
                if len(code) != 2 or not code.isalpha():
                    self.problem(
                        item,
                        f"{where}.{index}",
                        f"must be an ISO 3166-1 alpha-2 country code such as DE, not {code!r}",
                    )
                else:
                    countries.append(code.upper())
        return IdealCustomerProfile(
            industries=Keywords(self.read(fields, "industries", path, self.strings) or ()),
            employees=tuple(self.read(fields, "employees", path, self.employee_ranges) or ()),
            countries=frozenset(countries),
            titles=Keywords(self.read(fields, "titles", path, self.strings) or ()),
            product_interests=Keywords(
                self.read(fields, "product_interests", path, self.strings) or ()
            ),
        )

    def employee_ranges(self, node: Node, path: str) -> list[EmployeeRange]:
        if not isinstance(node, SequenceNode):
            self.problem(node, path, "must be a list of ranges such as {min: 10, max: 5000}")
            return []
        out = []
        for index, item in enumerate(node.value):
            where = f"{path}.{index}"
            fields = self.mapping(item, where, ("min", "max"))
            if fields is None:
                continue
            if "min" not in fields:
                self.problem(item, f"{where}.min", "is required")
                continue
            low = self.integer(fields["min"][1], f"{where}.min", low=0)
            high = (
                self.integer(fields["max"][1], f"{where}.max", low=0) if "max" in fields else None
            )
            if low is None or ("max" in fields and high is None):
                continue
            if high is not None and high < low:
                self.problem(fields["max"][1], f"{where}.max", f"must not be below min ({low})")
                continue
            out.append(EmployeeRange(low, high))
        return out

    def disqualifiers(self, node: Node, path: str) -> Disqualifiers | None:
        fields = self.mapping(
            node,
            path,
            (
                "test_lead",
                "no_contact",
                "free_mail",
                "competitor_domains",
                "student_or_job_seeker",
                "badge_scan_without_interest",
            ),
        )
        if fields is None:
            return None
        defaults = Disqualifiers()
        domains = [
            d.lower().lstrip("@").rstrip(".")
            for d in self.read(fields, "competitor_domains", path, self.strings) or []
        ]
        badge_classes: tuple[str, ...] = ()
        badge_interest = defaults.badge_scan_interest
        if "badge_scan_without_interest" in fields:
            badge = self.badge_scan(
                fields["badge_scan_without_interest"][1], f"{path}.badge_scan_without_interest"
            )
            if badge is not None:
                badge_classes, badge_interest = badge

        def flag(key: str, default: bool) -> bool:
            value = self.read(fields, key, path, self.boolean)
            return default if value is None else bool(value)

        return Disqualifiers(
            test_lead=flag("test_lead", defaults.test_lead),
            no_contact=flag("no_contact", defaults.no_contact),
            free_mail=flag("free_mail", defaults.free_mail),
            competitor_domains=tuple(domains),
            student_or_job_seeker=Keywords(
                self.read(fields, "student_or_job_seeker", path, self.strings) or ()
            ),
            badge_scan_source_classes=badge_classes,
            badge_scan_interest=badge_interest,
        )

    def badge_scan(self, node: Node, path: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """`false`, or {source_classes: [...], interest: [...]}."""
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            if self.boolean(node, path):
                self.problem(
                    node, path, "must be false or a mapping with source_classes and interest"
                )
            return ((), ())
        fields = self.mapping(node, path, ("source_classes", "interest"))
        if fields is None:
            return None
        classes = (
            self.names(fields["source_classes"][1], f"{path}.source_classes", SOURCE_CLASSES)
            if "source_classes" in fields
            else ["events"]
        )
        interest = (
            self.names(fields["interest"][1], f"{path}.interest")
            if "interest" in fields
            else list(Disqualifiers().badge_scan_interest)
        )
        return tuple(classes), tuple(interest)

    def rule(self, node: Node, path: str) -> Rule | None:
        fields = self.mapping(node, path, ("any_of", "all_of"))
        if fields is None:
            return None
        if not fields:
            self.problem(node, path, "needs any_of or all_of")
            return None
        return Rule(
            any_of=tuple(self.read(fields, "any_of", path, self.names) or ()),
            all_of=tuple(self.read(fields, "all_of", path, self.names) or ()),
        )

    def lifecycle(self, node: Node, path: str) -> dict[str, Rule] | None:
        fields = self.mapping(node, path, ("target", "suspect", "prospect"))
        if fields is None:
            return None
        out = {}
        for key in ("target", "suspect", "prospect"):
            rule = self.read(fields, key, path, self.rule)
            if rule is not None:
                out[key] = rule
        return out

    def stages(self, node: Node, path: str) -> dict[str, Any] | None:
        fields = self.mapping(node, path, ("basic_qualified", "sales_qualified"))
        if fields is None:
            return None
        out: dict[str, Any] = {}
        if "basic_qualified" in fields:
            where = f"{path}.basic_qualified"
            basic = self.mapping(fields["basic_qualified"][1], where, ("requires",))
            if basic is not None and "requires" in basic:
                out["basic_requires"] = tuple(self.names(basic["requires"][1], f"{where}.requires"))
        if "sales_qualified" in fields:
            where = f"{path}.sales_qualified"
            sales = self.mapping(fields["sales_qualified"][1], where, ("requires", "min_score"))
            if sales is not None:
                if "requires" in sales:
                    out["sales_requires"] = tuple(
                        self.names(sales["requires"][1], f"{where}.requires")
                    )
                if "min_score" in sales:
                    score = self.integer(
                        sales["min_score"][1], f"{where}.min_score", low=0, high=100
                    )
                    if score is not None:
                        out["sales_min_score"] = score
        return out

    def timeframe(self, node: Node, path: str) -> dict[str, Any] | None:
        fields = self.mapping(
            node, path, ("selection_window_days", "short_term_days", "without_timeframe")
        )
        if fields is None:
            return None
        out: dict[str, Any] = {}
        for key in ("selection_window_days", "short_term_days"):
            if key in fields:
                days = self.integer(fields[key][1], f"{path}.{key}", low=0, high=3650)
                if days is not None:
                    out[key] = days
        if "without_timeframe" in fields:
            term = self.string(fields["without_timeframe"][1], f"{path}.without_timeframe")
            if term is not None and term not in ("short", "long"):
                self.problem(
                    fields["without_timeframe"][1],
                    f"{path}.without_timeframe",
                    "must be short or long",
                )
            elif term is not None:
                out["without_timeframe"] = term
        return out

    def points(self, node: Node, path: str) -> dict[str, int] | None:
        fields = self.mapping(node, path, ("fit", "intent"))
        if fields is None:
            return None
        out: dict[str, int] = {}
        for group, allowed in (
            ("fit", FIT_CRITERIA),
            ("intent", tuple(c for c in INTENT_CRITERIA if c != "engagement")),
        ):
            if group not in fields:
                continue
            where = f"{path}.{group}"
            entries = self.mapping(fields[group][1], where, allowed)
            for name, (_, value_node) in (entries or {}).items():
                points = self.integer(value_node, f"{where}.{name}", low=0, high=100)
                if points is not None:
                    out[name] = points
        return out

    def engagement(self, node: Node, path: str) -> Engagement | None:
        fields = self.mapping(node, path, ("points", "full_at", "hand_raise"))
        if fields is None:
            return None
        points = self.read(fields, "points", path, lambda n, p: self.integer(n, p, low=0, high=100))
        full_at = self.read(fields, "full_at", path, lambda n, p: self.number(n, p, above=0))
        hand_raise = self.read(fields, "hand_raise", path, self.strings) or []
        return Engagement(
            points=points or 0,
            full_at=full_at or 100.0,
            hand_raise=tuple(h.lower() for h in hand_raise),
        )

    def decay(self, node: Node, path: str) -> dict[str, Any] | None:
        fields = self.mapping(node, path, ("intent_half_life",))
        if fields is None:
            return None
        days = self.read(fields, "intent_half_life", path, self.half_life)
        return {"intent_half_life_days": days} if days is not None else {}

    def half_life(self, node: Node, path: str) -> float | None:
        """A positive duration: a number of days, or a number with a unit (`30 days`,
        `6 weeks`, `36 hours`)."""
        expected = "a positive number of days or a duration such as 30 days, 6 weeks, 36 hours"
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.problem(node, path, f"must be {expected}")
            return None
        text = str(node.value).strip().replace("_", "")
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            text += " days"
        match = _DURATION.fullmatch(text)
        if match is None:
            self.problem(node, path, f"must be {expected}, not {str(node.value)!r}")
            return None
        unit = match.group(2).lower().rstrip("s")
        unit = {"h": "hour", "d": "day", "w": "week"}.get(unit, unit)
        days = float(match.group(1)) * HALF_LIFE_UNITS[unit]
        if days <= 0:
            self.problem(node, path, "must be positive: intent cannot halve in no time")
            return None
        if days > MAX_HALF_LIFE_DAYS:
            self.problem(node, path, f"must be at most {MAX_HALF_LIFE_DAYS} days")
            return None
        return days
