"""Parameters of the text_classification algorithms (``algorithms.text_classification``): the TF-IDF features
all three share (``TextFeatureParams``), and each classifier's own: ``XGBoostParams``,
``GradientBoostingParams``, ``RandomForestParams``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from algorithms.params.model import ParamModel, param
from algorithms.params.space import Choice, LogUniform, QUniform, Uniform


def max_features(default: int) -> Any:
    """The vocabulary size, whose default suits each classifier's cost per feature."""
    return param(
        default,
        ge=100,
        le=2_000_000,
        label="Vocabulary size",
        help="Most frequent n-grams kept as TF-IDF features (per analyzer).",
    )


def learning_rate() -> Any:
    return param(0.1, ge=0.0001, le=1.0, label="Learning rate", help="Shrinkage of each tree's contribution.")


class TextFeatureParams(ParamModel):
    tokenizer: Literal["auto", "word", "jieba", "char"] = param(
        "auto",
        label="Tokenizer",
        help="auto: jieba when most training texts contain Chinese characters, else word; word: word and symbol "
        "tokens; jieba: Chinese word segmentation; char: character n-grams only.",
    )
    ngram_min: int = param(
        1,
        ge=1,
        le=10,
        label="Smallest n-gram",
        help="Shortest n-gram of tokens (of characters with the char tokenizer).",
    )
    ngram_max: int = param(
        2,
        ge=1,
        le=10,
        label="Largest n-gram",
        help="Longest n-gram of tokens (of characters with the char tokenizer); at least the smallest.",
    )
    add_char_ngrams: bool = param(
        False,
        depends_on={"tokenizer": ["auto", "word", "jieba"]},
        label="Add character n-grams",
        help="Also add TF-IDF features of character n-grams to the word features.",
    )
    char_ngram_min: int = param(
        2,
        ge=1,
        le=10,
        depends_on={"add_char_ngrams": True},
        label="Smallest character n-gram",
        help="Shortest character n-gram added.",
    )
    char_ngram_max: int = param(
        4,
        ge=1,
        le=10,
        depends_on={"add_char_ngrams": True},
        label="Largest character n-gram",
        help="Longest character n-gram added.",
    )
    # Boosting time grows with the vocabulary; 10k terms cost no accuracy on SMS spam / waimai_10k (measured),
    # and fully grown forests over 50k terms took 142 s on waimai_10k against 58 s over 10k.
    max_features: int = max_features(10_000)
    min_df: int = param(
        1,
        ge=1,
        le=100_000,
        label="Minimum document frequency",
        help="Ignore n-grams found in fewer documents than this.",
    )
    sublinear_tf: bool = param(True, label="Sublinear TF", help="Use 1 + log(tf) instead of raw term counts.")
    lowercase: bool = param(True, label="Lowercase", help="Lowercase texts before tokenizing.")

    @model_validator(mode="after")
    def _ngram_ranges(self) -> TextFeatureParams:
        if self.ngram_max < self.ngram_min:
            raise ValueError(f"ngram_max ({self.ngram_max}) must be >= ngram_min ({self.ngram_min})")
        if self.add_char_ngrams and self.char_ngram_max < self.char_ngram_min:
            raise ValueError(
                f"char_ngram_max ({self.char_ngram_max}) must be >= char_ngram_min ({self.char_ngram_min})"
            )
        return self


class XGBoostParams(TextFeatureParams):
    n_estimators: int = param(300, ge=10, le=10_000, label="Trees", help="Boosting rounds.")
    max_depth: int = param(6, ge=1, le=30, label="Maximum depth", help="Depth of each tree.")
    learning_rate: float = learning_rate()
    subsample: float = param(
        1.0, ge=0.1, le=1.0, label="Row subsample", help="Share of rows sampled per tree."
    )
    colsample_bytree: float = param(
        1.0,
        ge=0.05,
        le=1.0,
        label="Column subsample",
        help="Share of features sampled per tree.",
    )
    reg_lambda: float = param(
        1.0, ge=0.0, le=1000.0, label="L2 regularisation", help="L2 penalty on leaf weights."
    )
    min_child_weight: float = param(
        1.0,
        ge=0.0,
        le=1000.0,
        label="Minimum child weight",
        help="Smallest hessian sum in a leaf: higher is more conservative.",
    )

    TUNING: ClassVar = {
        "n_estimators": QUniform(low=100, high=1000, q=50),
        "max_depth": QUniform(low=3, high=10, q=1),
        "learning_rate": LogUniform(low=0.01, high=0.3),
        "subsample": Uniform(low=0.6, high=1.0),
        "colsample_bytree": Uniform(low=0.3, high=1.0),
        "ngram_max": Choice(options=[1, 2, 3]),
    }


class GradientBoostingParams(TextFeatureParams):
    # sklearn's boosting scans every feature at each split: a modest vocabulary keeps fitting in seconds.
    max_features: int = max_features(5_000)
    n_estimators: int = param(100, ge=10, le=5_000, label="Trees", help="Boosting stages.")
    max_depth: int = param(3, ge=1, le=30, label="Maximum depth", help="Depth of each tree.")
    learning_rate: float = learning_rate()
    subsample: float = param(
        1.0,
        ge=0.1,
        le=1.0,
        label="Row subsample",
        help="Share of rows per stage; below 1 gives stochastic gradient boosting.",
    )
    min_samples_leaf: int = param(
        1,
        ge=1,
        le=10_000,
        label="Minimum samples per leaf",
        help="Fewest training texts in a leaf.",
    )

    TUNING: ClassVar = {
        "n_estimators": QUniform(low=50, high=500, q=50),
        "max_depth": QUniform(low=2, high=8, q=1),
        "learning_rate": LogUniform(low=0.01, high=0.3),
        "subsample": Uniform(low=0.6, high=1.0),
    }


class RandomForestParams(TextFeatureParams):
    n_estimators: int = param(300, ge=10, le=10_000, label="Trees", help="Trees in the forest.")
    max_depth: int = param(
        0,
        ge=0,
        le=1000,
        label="Maximum depth",
        help="Depth limit of each tree; 0: grow until the leaves are pure.",
    )
    min_samples_leaf: int = param(
        1,
        ge=1,
        le=10_000,
        label="Minimum samples per leaf",
        help="Fewest training texts in a leaf.",
    )
    split_max_features: Literal["sqrt", "log2", "all"] = param(
        "sqrt",
        label="Features per split",
        help="Features considered at each split.",
    )
    class_weight: Literal["none", "balanced", "balanced_subsample"] = param(
        "none",
        label="Class weight",
        help="balanced: weight classes inversely to their frequency (for skewed labels).",
    )

    TUNING: ClassVar = {
        "n_estimators": QUniform(low=100, high=1000, q=50),
        "max_depth": Choice(options=[0, 20, 50, 100]),
        "min_samples_leaf": QUniform(low=1, high=10, q=1),
        "class_weight": Choice(options=["none", "balanced"]),
    }
