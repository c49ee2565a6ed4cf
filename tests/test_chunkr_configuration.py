"""Chunkr configuration: strict parsing (unknown fields and enum values are refused,
naming them) and the update merge's properties (docs/chunkr.md, "Configuration")."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore.chunkr.configuration import (
    ChunkProcessing,
    Configuration,
    FallbackStrategy,
    GenerationConfig,
    LlmProcessing,
    OcrStrategy,
    SegmentFormat,
    SegmentProcessing,
    SegmentType,
    Tokenizer,
    TokenizerType,
)
from taskcore.errors import ValidationError

generation = st.builds(
    GenerationConfig,
    format=st.none() | st.sampled_from(SegmentFormat),
    extended_context=st.none() | st.booleans(),
)
segments = st.builds(
    SegmentProcessing, st.dictionaries(st.sampled_from(SegmentType), generation, max_size=4)
)
configurations = st.builds(
    Configuration,
    chunk_processing=st.none()
    | st.builds(ChunkProcessing, target_length=st.none() | st.integers(0, 4096)),
    expires_in=st.none() | st.integers(0, 10**6),
    high_resolution=st.none() | st.booleans(),
    ocr_strategy=st.none() | st.sampled_from(OcrStrategy),
    segment_processing=st.none() | segments,
    llm_processing=st.none() | st.builds(LlmProcessing, temperature=st.none() | st.floats(0, 1)),
)


@given(configurations)
def test_merging_nothing_changes_nothing(current: Configuration) -> None:
    assert current == current.merge(Configuration())


@given(configurations, configurations)
def test_merging_is_idempotent(current: Configuration, update: Configuration) -> None:
    once = current.merge(update)
    assert once == once.merge(update)


@given(configurations, configurations)
def test_given_fields_win_and_others_are_kept(
    current: Configuration, update: Configuration
) -> None:
    merged = current.merge(update)
    for name in ("chunk_processing", "expires_in", "high_resolution", "ocr_strategy"):
        given_value = getattr(update, name)
        want = getattr(current, name) if given_value is None else given_value
        assert want == getattr(merged, name)


@given(configurations, configurations)
def test_segment_types_not_given_keep_their_settings(
    current: Configuration, update: Configuration
) -> None:
    merged = current.merge(update)
    before = current.segment_processing.settings if current.segment_processing else {}
    given_settings = update.segment_processing.settings if update.segment_processing else {}
    after = merged.segment_processing.settings if merged.segment_processing else {}
    for segment_type in SegmentType:
        want = given_settings.get(segment_type, before.get(segment_type))
        assert want == after.get(segment_type)


@given(configurations)
def test_the_wire_form_round_trips(configuration: Configuration) -> None:
    assert configuration == Configuration.from_wire(configuration.to_wire())


def test_the_clients_snake_case_segment_names_are_accepted() -> None:
    parsed = Configuration.from_wire({"segment_processing": {"list_item": {"format": "Html"}}})
    assert parsed.segment_processing is not None
    want = {SegmentType.LIST_ITEM: GenerationConfig(format=SegmentFormat.HTML)}
    assert want == parsed.segment_processing.settings
    assert {"format": "Html"}.items() <= parsed.to_wire()["segment_processing"]["ListItem"].items()


def test_the_clients_tokenizer_and_fallback_shapes_are_accepted() -> None:
    parsed = Configuration.from_wire(
        {
            "chunk_processing": {"tokenizer": {"Enum": "Word"}, "target_length": 512},
            "llm_processing": {"fallback_strategy": {"Model": "m"}, "temperature": 0},
        }
    )
    assert parsed.chunk_processing == ChunkProcessing(
        target_length=512, tokenizer=TokenizerType(Tokenizer.WORD)
    )
    assert parsed.llm_processing == LlmProcessing(
        fallback_strategy=FallbackStrategy("Model", "m"), temperature=0.0
    )
    named = Configuration.from_wire(
        {
            "chunk_processing": {"tokenizer": {"String": "org/tok"}},
            "llm_processing": {"fallback_strategy": "None"},
        }
    )
    assert {"String": "org/tok"} == named.to_wire()["chunk_processing"]["tokenizer"]
    assert "None" == named.to_wire()["llm_processing"]["fallback_strategy"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nope": 1}, "nope"),
        ({"ocr_strategy": "Sometimes"}, "ocr_strategy"),
        ({"ocr_strategy": 1}, "ocr_strategy"),
        ({"high_resolution": "yes"}, "high_resolution"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": -1}, "expires_in"),
        ({"expires_in": 2**31}, "expires_in"),
        ({"expires_in": 1.5}, "expires_in"),
        ({"chunk_processing": []}, "chunk_processing"),
        ({"chunk_processing": {"x": 1}}, "chunk_processing.x"),
        ({"chunk_processing": {"tokenizer": "Word"}}, "chunk_processing.tokenizer"),
        ({"chunk_processing": {"tokenizer": {"Enum": "Nope"}}}, "chunk_processing.tokenizer.Enum"),
        ({"segment_processing": {"Tables": {}}}, "segment_processing.Tables"),
        (
            {"segment_processing": {"Table": {}, "table": {}}},
            "segment_processing.Table",
        ),
        (
            {"segment_processing": {"Table": {"strategy": "Maybe"}}},
            "segment_processing.Table.strategy",
        ),
        (
            {"segment_processing": {"Table": {"embed_sources": ["Nope"]}}},
            "segment_processing.Table.embed_sources[0]",
        ),
        (
            {"segment_processing": {"Table": {"embed_sources": "LLM"}}},
            "segment_processing.Table.embed_sources",
        ),
        (
            {"llm_processing": {"fallback_strategy": "Sometimes"}},
            "llm_processing.fallback_strategy",
        ),
        ({"llm_processing": {"temperature": "hot"}}, "llm_processing.temperature"),
        ({"llm_processing": {"model_id": "x" * 1001}}, "llm_processing.model_id"),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Configuration.from_wire(body)
    assert field == raised.value.field
    assert field in str(raised.value)


def test_null_is_the_same_as_leaving_a_field_out() -> None:
    assert Configuration() == Configuration.from_wire({"ocr_strategy": None})


@given(configurations)
def test_a_cached_wire_form_is_not_part_of_the_value(configuration: Configuration) -> None:
    fresh = Configuration.from_wire(configuration.to_wire())
    assert configuration.to_wire() is configuration.to_wire()  # computed once
    assert fresh == configuration
    assert hash(fresh) == hash(configuration)
    assert "_wire_memo" not in repr(configuration)


def test_segment_settings_cannot_be_changed_in_place() -> None:
    settings = SegmentProcessing({SegmentType.TABLE: GenerationConfig()}).settings
    with pytest.raises(TypeError):
        settings[SegmentType.TEXT] = GenerationConfig()  # type: ignore[index]
