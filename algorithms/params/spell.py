"""Parameters of the log_clustering algorithm ``Spell`` (``algorithms.spell``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator

from algorithms.params.model import ParamModel, RegexList, param
from algorithms.params.space import Uniform
from algorithms.spell_parser import DEFAULT_MASKING, compile_log_format


class SpellParams(ParamModel):
    tau: float = param(
        0.5,
        ge=0.01,
        le=1.0,
        label="Tau",
        help="A message joins a template when their common subsequence covers at least tau of its tokens.",
    )
    log_format: str = param(
        "<Content>",
        label="Log format",
        help="Loghub-style header with <Field> placeholders, e.g. '<Date> <Time> <Level> <Component>: <Content>'; "
        r"only <Content> is parsed. Text between fields is a regular expression (escape brackets: \[<Level>\]); "
        "a line that does not fit is parsed whole.",
    )
    masking: RegexList = param(
        list(DEFAULT_MASKING),
        label="Masking regexes",
        help="Regular expressions whose matches are replaced by <*> before tokenising, in order. Default: IPv4 "
        "addresses (with port), hex ids (0x...), free-standing numbers. Empty: no masking.",
    )

    TUNING: ClassVar = {"tau": Uniform(low=0.3, high=0.95)}

    @field_validator("log_format")
    @classmethod
    def _parsable(cls, log_format: str) -> str:
        compile_log_format(log_format)  # ValueError saying what the format lacks
        return log_format
