"""A Chunkr task's configuration: typed, frozen, parsed strictly, merged field by field.

The fields and enums are those of the ``chunkr-ai`` Python client (0.3.7,
``chunkr_ai.models``: ``Configuration``, ``ChunkProcessing``, ``SegmentProcessing``,
``GenerationConfig``, ``LlmProcessing``), which is what the Chunkr reference's
``CreateForm`` and ``UpdateForm`` carry.  A field that is not given is ``None``; taskcore
invents no server defaults (docs/chunkr.md, "Configuration").

Parsing is strict: an unknown field, a value of the wrong JSON type or an unknown enum
value is a :class:`~taskcore.errors.ValidationError` whose ``field`` is the dotted path
of the offending field (``segment_processing.Table.format``).  ``null`` is the same as
leaving a field out (the client never sends it).

Segment settings are keyed by segment type.  The client sends the snake-case names
(``list_item``), the server's JSON uses the segment types (``ListItem``); both are
accepted, a segment type named twice is refused, and taskcore answers with the segment
types (which the client's model reads by alias).

:meth:`Configuration.merge` is the update rule (the Chunkr reference: "The original
configuration will be used for all values that are not provided in the update"): each
top-level field takes the update's value when given, else keeps the current one; the
segment settings merge per segment type the same way.  ``chunk_processing`` and
``llm_processing`` are replaced whole when given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from taskcore.errors import ValidationError

__all__ = [
    "CHUNK_PROCESSING_FIELDS",
    "CONFIGURATION_FIELDS",
    "GENERATION_CONFIG_FIELDS",
    "LLM_PROCESSING_FIELDS",
    "MAX_EXPIRES_IN",
    "MAX_TEXT_LENGTH",
    "SEGMENT_KEYS",
    "ChunkProcessing",
    "Configuration",
    "CroppingStrategy",
    "EmbedSource",
    "ErrorHandlingStrategy",
    "FallbackStrategy",
    "GenerationConfig",
    "GenerationStrategy",
    "LlmProcessing",
    "OcrStrategy",
    "Pipeline",
    "SegmentFormat",
    "SegmentProcessing",
    "SegmentType",
    "SegmentationStrategy",
    "Tokenizer",
    "TokenizerType",
    "field_schema",
]

MAX_EXPIRES_IN = 2**31 - 1
"""The largest ``expires_in`` (seconds) accepted: the server keeps it in 32 bits."""
MAX_INT = 2**31 - 1
"""The largest ``target_length`` and ``max_completion_tokens`` accepted."""
MAX_TEXT_LENGTH = 1000
"""The longest text field (a model id, a tokenizer name) accepted, in characters."""


class CroppingStrategy(StrEnum):
    """``crop_image``."""

    ALL = "All"
    AUTO = "Auto"


class SegmentFormat(StrEnum):
    """``format`` of a segment's generated content."""

    HTML = "Html"
    MARKDOWN = "Markdown"


class EmbedSource(StrEnum):
    """``embed_sources`` (deprecated in the client)."""

    CONTENT = "Content"
    HTML = "HTML"
    MARKDOWN = "Markdown"
    LLM = "LLM"


class GenerationStrategy(StrEnum):
    """``strategy`` (and the deprecated ``html``/``markdown``)."""

    LLM = "LLM"
    AUTO = "Auto"
    IGNORE = "Ignore"


class Tokenizer(StrEnum):
    """The named tokenizers of ``chunk_processing.tokenizer``."""

    WORD = "Word"
    CL100K_BASE = "Cl100kBase"
    XLM_ROBERTA_BASE = "XlmRobertaBase"
    BERT_BASE_UNCASED = "BertBaseUncased"


class OcrStrategy(StrEnum):
    """``ocr_strategy``."""

    ALL = "All"
    AUTO = "Auto"


class SegmentationStrategy(StrEnum):
    """``segmentation_strategy``."""

    LAYOUT_ANALYSIS = "LayoutAnalysis"
    PAGE = "Page"


class ErrorHandlingStrategy(StrEnum):
    """``error_handling``."""

    FAIL = "Fail"
    CONTINUE = "Continue"


class Pipeline(StrEnum):
    """``pipeline``."""

    AZURE = "Azure"
    CHUNKR = "Chunkr"


class SegmentType(StrEnum):
    """A segment's ``segment_type``, also the keys of ``segment_processing``."""

    CAPTION = "Caption"
    FOOTNOTE = "Footnote"
    FORMULA = "Formula"
    LIST_ITEM = "ListItem"
    PAGE = "Page"
    PAGE_FOOTER = "PageFooter"
    PAGE_HEADER = "PageHeader"
    PICTURE = "Picture"
    SECTION_HEADER = "SectionHeader"
    TABLE = "Table"
    TEXT = "Text"
    TITLE = "Title"


# -- strict parsing helpers ---------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)
Parser = Callable[[Any, str], Any]
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


_SCHEMAS: dict[Parser, dict[str, Any]] = {}
"""The JSON Schema of each value parser below (what :func:`field_schema` answers)."""
P = TypeVar("P", bound=Parser)


def _declare(parser: P, schema: dict[str, Any]) -> P:
    """Record ``schema`` as the JSON Schema of the values ``parser`` accepts."""
    _SCHEMAS[parser] = schema
    return parser


def field_schema(parser: Parser) -> dict[str, Any]:
    """The JSON Schema of the values a field parser of a ``*_FIELDS`` table accepts
    (``null`` aside, which every field takes as "not given").

    Args:
        parser: a value of :data:`CONFIGURATION_FIELDS` or another ``*_FIELDS`` table.

    Returns:
        A JSON Schema (a fresh dict); for an object parser (``ChunkProcessing.from_wire``)
        ``{"x-taskcore-object": <class name>}``, which the caller resolves.

    Raises:
        KeyError: ``parser`` is not one of the declared parsers.
    """
    owner = getattr(parser, "__self__", None)
    if isinstance(owner, type):
        return {"x-taskcore-object": owner.__name__}
    return dict(_SCHEMAS[parser])


def _type_error(path: str, expected: str) -> ValidationError:
    return ValidationError(f"Invalid value for {path}: expected {expected}", field=path)


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(path, "an object")
    return value


def _fields(value: Any, path: str, parsers: Mapping[str, Parser]) -> dict[str, Any]:
    """The fields of the object ``value`` parsed by ``parsers`` (``null`` = not given).

    Raises:
        ValidationError: ``value`` is not an object, has a field ``parsers`` does not
            name, or a field's parser refuses its value.
    """
    obj = _object(value, path)
    for name in obj:
        if name not in parsers:
            where = f"{path}.{name}" if path else name
            raise ValidationError(f"Unknown field {where}", field=where)
    return {
        name: parse(obj[name], f"{path}.{name}" if path else name)
        for name, parse in parsers.items()
        if obj.get(name) is not None
    }


def _enum(kind: type[E]) -> Callable[[Any, str], E]:
    known = ", ".join(kind)

    def parse(value: Any, path: str) -> E:
        if not isinstance(value, str):
            raise _type_error(path, f"one of {known}")
        try:
            return kind(value)
        except ValueError:
            raise ValidationError(
                f"Unknown value {value!r} for {path}: expected one of {known}", field=path
            ) from None

    return _declare(parse, {"type": "string", "enum": [k.value for k in kind]})


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(path, "true or false")
    return value


_declare(_bool, {"type": "boolean"})


def _int(limit: int) -> Callable[[Any, str], int]:
    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise _type_error(path, f"a whole number from 0 to {limit}")
        number: int = value
        return number

    return _declare(parse, {"type": "integer", "minimum": 0, "maximum": limit})


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(path, "a number")
    number = float(value)
    if not math.isfinite(number):  # NaN would never compare equal, nor serialise
        raise _type_error(path, "a finite number")
    return number


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
        raise _type_error(path, f"a string of at most {MAX_TEXT_LENGTH} characters")
    return value


_declare(_number, {"type": "number"})
_declare(_text, {"type": "string", "maxLength": MAX_TEXT_LENGTH})


def _enum_list(kind: type[E]) -> Callable[[Any, str], tuple[E, ...]]:
    item = _enum(kind)

    def parse(value: Any, path: str) -> tuple[E, ...]:
        if not isinstance(value, list) or len(value) > len(kind):
            raise _type_error(path, f"a list of at most {len(kind)} values")
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

    return _declare(parse, {"type": "array", "maxItems": len(kind), "items": _SCHEMAS[item]})


def _memo_wire(value: Any, build: Callable[[Any], Any]) -> Any:
    """``build(value)``, computed once per value: values are frozen, so their wire form
    never changes.  The cache is written with ``object.__setattr__`` (the one write to a
    frozen value, invisible to its equality and hash); the returned object is shared and
    must not be changed by the caller."""
    memo = value._wire_memo
    if memo is None:
        memo = build(value)
        object.__setattr__(value, "_wire_memo", memo)
    return memo


_DATA_FIELDS: dict[type, tuple[str, ...]] = {}  # one entry per value class


def _data_fields(kind: type) -> tuple[str, ...]:
    """The value fields of an attrs class (the wire-form cache left out)."""
    names = _DATA_FIELDS.get(kind)
    if names is None:
        names = _DATA_FIELDS[kind] = tuple(f.name for f in attrs.fields(kind) if f.init)
    return names


def _merge(current: Any, given: Any) -> Any:
    """``given``'s fields where set, else ``current``'s (one level, attrs classes)."""
    changes = {
        name: getattr(given, name)
        for name in _data_fields(type(given))
        if getattr(given, name) is not None
    }
    return attrs.evolve(current, **changes) if changes else current


def _wire(value: Any) -> Any:
    """A field's value as JSON: enums as their strings, tuples as lists, values by
    their ``to_wire``."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, StrEnum):
        return value._value_
    if isinstance(value, tuple):
        return [_wire(v) for v in value]
    return value.to_wire()


_PLAIN = frozenset({bool, int, float, str})


def _plain_wire(value: Any) -> dict[str, Any]:
    return {name: _wire(getattr(value, name)) for name in _data_fields(type(value))}


# -- values -------------------------------------------------------------------------------


@attrs.frozen
class GenerationConfig:
    """How one segment type's content is generated (the client's ``GenerationConfig``;
    ``llm``, ``embed_sources``, ``html`` and ``markdown`` are deprecated there)."""

    format: SegmentFormat | None = None
    strategy: GenerationStrategy | None = None
    crop_image: CroppingStrategy | None = None
    extended_context: bool | None = None
    description: bool | None = None
    llm: str | None = None
    embed_sources: tuple[EmbedSource, ...] | None = None
    html: GenerationStrategy | None = None
    markdown: GenerationStrategy | None = None
    _wire_memo: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    @classmethod
    def from_wire(cls, value: Any, path: str = "") -> GenerationConfig:
        """Parse strictly (see the module docstring).

        Raises:
            ValidationError: an unknown field or enum value, a wrong type.
        """
        return cls(**_fields(value, path, GENERATION_CONFIG_FIELDS))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object, every field present (``null`` when not set); shared, not
        to be changed."""
        return _memo_wire(self, _plain_wire)  # type: ignore[no-any-return]


GENERATION_CONFIG_FIELDS: dict[str, Parser] = {
    "format": _enum(SegmentFormat),
    "strategy": _enum(GenerationStrategy),
    "crop_image": _enum(CroppingStrategy),
    "extended_context": _bool,
    "description": _bool,
    "llm": _text,
    "embed_sources": _enum_list(EmbedSource),
    "html": _enum(GenerationStrategy),
    "markdown": _enum(GenerationStrategy),
}


def _snake(segment_type: SegmentType) -> str:
    return _SNAKE.sub("_", segment_type.value).lower()


def _sorted_settings(
    settings: Mapping[SegmentType, GenerationConfig],
) -> Mapping[SegmentType, GenerationConfig]:
    """A read-only copy in segment-type order (the value is frozen all the way down)."""
    return MappingProxyType(dict(sorted(settings.items())))


@attrs.frozen
class SegmentProcessing:
    """Generation settings per segment type (the client's ``SegmentProcessing``)."""

    settings: Mapping[SegmentType, GenerationConfig] = attrs.field(
        factory=dict, converter=_sorted_settings
    )
    _wire_memo: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    def __hash__(self) -> int:
        return hash(tuple(self.settings.items()))

    @classmethod
    def from_wire(cls, value: Any, path: str = "segment_processing") -> SegmentProcessing:
        """Parse strictly; keys are segment types (``ListItem``) or the client's
        snake-case names (``list_item``).

        Raises:
            ValidationError: an unknown key, a segment type given twice, a bad setting.
        """
        obj = _object(value, path)
        settings: dict[SegmentType, GenerationConfig] = {}
        for key, item in obj.items():
            segment_type = _SEGMENT_KEYS.get(key)
            if segment_type is None:
                raise ValidationError(f"Unknown field {path}.{key}", field=f"{path}.{key}")
            if segment_type in settings:
                where = f"{path}.{segment_type.value}"
                raise ValidationError(f"Segment type given twice: {where}", field=where)
            if item is not None:
                settings[segment_type] = GenerationConfig.from_wire(item, f"{path}.{key}")
        return cls(settings)

    def merge(self, given: SegmentProcessing) -> SegmentProcessing:
        """Per segment type: ``given``'s setting where it has one, else this one's."""
        if not given.settings:
            return self
        return SegmentProcessing({**self.settings, **given.settings})

    def to_wire(self) -> dict[str, Any]:
        """Every segment type as a key (``null`` when not set), as the server writes;
        shared, not to be changed."""
        return _memo_wire(self, _segments_wire)  # type: ignore[no-any-return]


def _segments_wire(value: SegmentProcessing) -> dict[str, Any]:
    return {
        t.value: None if (s := value.settings.get(t)) is None else s.to_wire() for t in SegmentType
    }


_SEGMENT_KEYS: dict[str, SegmentType] = {
    **{t.value: t for t in SegmentType},
    **{_snake(t): t for t in SegmentType},
}
SEGMENT_KEYS: tuple[str, ...] = tuple(_SEGMENT_KEYS)
"""The keys ``segment_processing`` accepts: each segment type and its snake-case name."""


@attrs.frozen
class TokenizerType:
    """``chunk_processing.tokenizer``: ``{"Enum": <Tokenizer>}`` or ``{"String": <name>}``
    (a Hugging Face tokenizer id), as the client writes it."""

    tokenizer: Tokenizer | None = None
    name: str | None = None
    _wire_memo: dict[str, str] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    @classmethod
    def from_wire(cls, value: Any, path: str) -> TokenizerType:
        """Parse strictly.

        Raises:
            ValidationError: not one of the two shapes, or an unknown tokenizer.
        """
        obj = _object(value, path)
        if len(obj) == 1 and "Enum" in obj:
            return cls(tokenizer=_enum(Tokenizer)(obj["Enum"], f"{path}.Enum"))
        if len(obj) == 1 and "String" in obj:
            return cls(name=_text(obj["String"], f"{path}.String"))
        raise _type_error(path, '{"Enum": <tokenizer>} or {"String": <name>}')

    def to_wire(self) -> dict[str, str]:
        """``{"Enum": ...}`` or ``{"String": ...}``."""
        if self.tokenizer is not None:
            return {"Enum": self.tokenizer.value}
        return {"String": self.name or ""}


@attrs.frozen
class ChunkProcessing:
    """How segments are grouped into chunks (the client's ``ChunkProcessing``)."""

    ignore_headers_and_footers: bool | None = None
    target_length: int | None = None
    tokenizer: TokenizerType | None = None
    _wire_memo: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    @classmethod
    def from_wire(cls, value: Any, path: str = "chunk_processing") -> ChunkProcessing:
        """Parse strictly.

        Raises:
            ValidationError: an unknown field or value, a wrong type.
        """
        return cls(**_fields(value, path, CHUNK_PROCESSING_FIELDS))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object, every field present; shared, not to be changed."""
        return _memo_wire(self, _plain_wire)  # type: ignore[no-any-return]


CHUNK_PROCESSING_FIELDS: dict[str, Parser] = {
    "ignore_headers_and_footers": _bool,
    "target_length": _int(MAX_INT),
    "tokenizer": TokenizerType.from_wire,
}


@attrs.frozen
class FallbackStrategy:
    """``llm_processing.fallback_strategy``: ``"None"``, ``"Default"`` or
    ``{"Model": <model id>}``."""

    kind: str
    model_id: str | None = None

    @classmethod
    def from_wire(cls, value: Any, path: str) -> FallbackStrategy:
        """Parse strictly.

        Raises:
            ValidationError: not one of the three shapes.
        """
        if value in ("None", "Default"):
            return cls(value)
        if isinstance(value, dict) and len(value) == 1 and "Model" in value:
            return cls("Model", _text(value["Model"], f"{path}.Model"))
        raise _type_error(path, '"None", "Default" or {"Model": <model id>}')

    def to_wire(self) -> str | dict[str, str]:
        """The JSON value."""
        if self.kind == "Model":
            return {"Model": self.model_id or ""}
        return self.kind


@attrs.frozen
class LlmProcessing:
    """Which model generates content (the client's ``LlmProcessing``)."""

    model_id: str | None = None
    fallback_strategy: FallbackStrategy | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    _wire_memo: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    @classmethod
    def from_wire(cls, value: Any, path: str = "llm_processing") -> LlmProcessing:
        """Parse strictly.

        Raises:
            ValidationError: an unknown field or value, a wrong type.
        """
        return cls(**_fields(value, path, LLM_PROCESSING_FIELDS))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object; a ``temperature`` or ``fallback_strategy`` not set is left
        out (the client's model has defaults for them and no ``null``).  Shared, not to
        be changed."""
        return _memo_wire(self, _llm_wire)  # type: ignore[no-any-return]


def _llm_wire(value: LlmProcessing) -> dict[str, Any]:
    wire = _plain_wire(value)
    for name in ("fallback_strategy", "temperature"):
        if wire[name] is None:
            del wire[name]
    return wire


LLM_PROCESSING_FIELDS: dict[str, Parser] = {
    "model_id": _text,
    "fallback_strategy": FallbackStrategy.from_wire,
    "max_completion_tokens": _int(MAX_INT),
    "temperature": _number,
}


@attrs.frozen
class Configuration:
    """A task's configuration (the client's ``Configuration``); ``None`` = not given."""

    chunk_processing: ChunkProcessing | None = None
    expires_in: int | None = None
    error_handling: ErrorHandlingStrategy | None = None
    high_resolution: bool | None = None
    ocr_strategy: OcrStrategy | None = None
    segment_processing: SegmentProcessing | None = None
    segmentation_strategy: SegmentationStrategy | None = None
    pipeline: Pipeline | None = None
    llm_processing: LlmProcessing | None = None
    _wire_memo: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )  # the wire form's cache (:func:`_memo_wire`), not part of the value

    @classmethod
    def from_wire(cls, value: Any, path: str = "") -> Configuration:
        """Parse a configuration object strictly (no other field allowed).

        Raises:
            ValidationError: an unknown field or enum value, a wrong type, a number out
                of range; ``field`` is the dotted path.
        """
        return cls(**_fields(value, path, CONFIGURATION_FIELDS))

    def merge(self, given: Configuration) -> Configuration:
        """The configuration an update ``given`` leads to (see the module docstring).

        Pure: neither value changes.  ``c.merge(Configuration()) == c``, and merging
        the same update twice gives what merging it once does.
        """
        if given.segment_processing is not None and not given.segment_processing.settings:
            # {} or {"Table": null} names no segment type: it gives nothing to merge.
            given = attrs.evolve(given, segment_processing=None)
        merged = _merge(self, given)
        if given.segment_processing is not None and self.segment_processing is not None:
            merged = attrs.evolve(
                merged, segment_processing=self.segment_processing.merge(given.segment_processing)
            )
        return merged  # type: ignore[no-any-return]

    def to_wire(self) -> dict[str, Any]:
        """The JSON object, every field present (``null`` when not set); shared, not
        to be changed."""
        return _memo_wire(self, _plain_wire)  # type: ignore[no-any-return]


CONFIGURATION_FIELDS: dict[str, Parser] = {
    "chunk_processing": ChunkProcessing.from_wire,
    "expires_in": _int(MAX_EXPIRES_IN),
    "error_handling": _enum(ErrorHandlingStrategy),
    "high_resolution": _bool,
    "ocr_strategy": _enum(OcrStrategy),
    "segment_processing": SegmentProcessing.from_wire,
    "segmentation_strategy": _enum(SegmentationStrategy),
    "pipeline": _enum(Pipeline),
    "llm_processing": LlmProcessing.from_wire,
}
"""The configuration's fields and their strict parsers (a create form adds ``file`` and
``file_name``)."""
