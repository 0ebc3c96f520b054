"""The qualification definitions: the written-down, versioned agreement between marketing and
sales on what a target, suspect and prospect are, what basic- and sales-qualified mean, who
is disqualified and how many points each criterion is worth.

A definitions file is YAML. It is validated when it is loaded (at start for the file, on
every `PUT /qualifier/v1/definitions`); every problem names its line, e.g.
`definitions.yaml line 12: points.fit.company must be a whole number`. See
docs/qualification.md for every key.

This module reads the YAML into nodes (which keep their lines), refuses what pydantic cannot
see (keys given twice, reused anchors), and validates the plain data with the strict models
of `schema`; each pydantic error's `loc` is mapped back to the line of its YAML node.
`model` holds the validated definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from qualifier.definitions.model import Definitions
from qualifier.definitions.schema import PROBLEM, DefinitionsFile, WrittenScalar
from services.errors import DomainError, FieldError

DEFAULT_FILE = Path(__file__).parent / "default.yaml"
MAX_TEXT = 256 * 1024
MAX_DEPTH = 32
"""How deeply the YAML may nest: PyYAML composes recursively, so a document nested a few
thousand levels deep overflowed the stack (a 500) before anything was validated."""

Loc = tuple[str | int, ...]


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


class DefinitionsError(DomainError, ValueError):
    """The definitions do not validate; `issues` names each problem's line. A request that
    sends them is refused with 422 naming each line (a DomainError); the file at start stops
    the service with the lines (a ValueError, said as a bad configuration)."""

    status = 422

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = sorted(issues, key=lambda i: (i.line, i.path))
        lines = self.lines()
        problems = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}"
        super().__init__(
            f"The definitions are not valid ({problems}): " + "; ".join(lines),
            errors=[FieldError(i.path or "yaml", i.render(source), i.line) for i in self.issues],
        )

    def __str__(self) -> str:
        return "\n".join(self.lines())

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
    definitions, issues = _validate(root)
    if definitions is None:
        raise DefinitionsError(source, issues)
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


# --- from YAML nodes to validated definitions -----------------------------------------------


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


class _Plain:
    """Turns the node tree into plain data for pydantic, noting each value's and each key's
    line by its `loc`, and the problems only the nodes show."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.key_lines: dict[Loc, int] = {}
        self.issues: list[Issue] = []
        self.refused: list[Loc] = []
        self._seen: set[int] = set()
        self._constructor = SafeConstructor()

    def problem(self, node: Node, loc: Loc, message: str) -> None:
        self.issues.append(Issue(node.start_mark.line + 1, _path(loc), message))

    def data(self, node: Node, loc: Loc = ()) -> Any:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, ScalarNode):
            if node.tag == _NULL:
                return None
            if node.tag == _STR:
                return str(node.value)
            try:
                value = self._constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, TypeError):
                value = None  # an unknown tag or a malformed value: text, never a number
            return WrittenScalar(str(node.value), value)
        if id(node) in self._seen:
            self.problem(node, loc, "reuses an anchor; anchors and aliases are not supported")
            self.refused.append(loc)
            return None
        self._seen.add(id(node))
        if isinstance(node, SequenceNode):
            return [self.data(item, (*loc, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, loc, "has a key that is not a plain word")
                continue
            key = str(key_node.value)
            if key in out:
                self.problem(key_node, (*loc, key), "is given twice")
                continue
            self.key_lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = self.data(value_node, (*loc, key))
        return out

    def line(self, loc: Loc) -> int:
        """The line of the node at `loc`, or of its nearest written ancestor."""
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def issue(self, error: ErrorDetails) -> Issue | None:
        loc: Loc = tuple(error["loc"])
        if any(loc[: len(refused)] == refused for refused in self.refused):
            return None  # already named: a reused anchor
        kind = error["type"]
        if kind == PROBLEM:
            message = error["msg"]
        elif kind == "extra_forbidden":
            expected = ", ".join(_model_at(loc[:-1]).model_fields)
            return Issue(
                self.key_lines.get(loc, self.line(loc)),
                _path(loc),
                f"is not a known key; expected one of: {expected}",
            )
        elif kind == "missing":
            why = _model_at(loc[:-1]).model_fields[str(loc[-1])].description
            message = f"is required: {why}" if why else "is required"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = "must be a mapping of keys to values"
        else:
            message = error["msg"]
        return Issue(self.line(loc), _path(loc), message)


def _path(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def _model_at(loc: Loc) -> type[BaseModel]:
    """The model of the mapping at `loc` in a definitions file."""
    model: type[BaseModel] = DefinitionsFile
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_in(model.model_fields[part].annotation)
    return model


def _model_in(annotation: Any) -> type[BaseModel]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        try:
            return _model_in(argument)
        except LookupError:
            continue
    raise LookupError(annotation)


def _validate(root: Node) -> tuple[Definitions | None, list[Issue]]:
    plain = _Plain()
    data = plain.data(root)
    try:
        definitions = DefinitionsFile.model_validate(data).definitions()
    except ValidationError as exc:
        issues = [plain.issue(error) for error in exc.errors()]
        return None, plain.issues + [i for i in issues if i is not None]
    return (None if plain.issues else definitions), plain.issues
