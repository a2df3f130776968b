"""Text classification: TF-IDF features (words — jieba for Chinese — and character n-grams) and a tree model.

Three registered algorithms share this module: ``XGBoost`` (xgboost, histogram method), ``GradientBoosting``
and ``RandomForest`` (scikit-learn). Feature params (all three): ``tokenizer`` (``auto``: jieba when most
training texts contain Chinese characters, else ``word``; ``word``; ``jieba``; ``char``: character n-grams
only), ``ngram_min``/``ngram_max`` (of tokens; of characters for ``char``), ``add_char_ngrams`` with
``char_ngram_min``/``char_ngram_max`` (character n-grams within word boundaries added to the word features),
``max_features`` (per analyzer), ``min_df``, ``sublinear_tf``, ``lowercase``. Every param, the classifiers'
own included, is declared in ``algorithms.params.text``.

The served model holds the fitted vectorizers (their tokenizers are functions of ``algorithms.base.tokenize``,
so they pickle), the classifier and the class labels; it only reads them, so one instance serves concurrent
requests. Heavy libraries are imported inside functions: registering the algorithms stays cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature

from algorithms.base.algorithm import Algorithm, pinned
from algorithms.base.plots import confusion_figure
from algorithms.base.text import (
    LABEL_COLUMN,
    SCENARIO,
    TEXT_COLUMN,
    results,
    text_metrics,
    text_signature,
    texts_of_frame,
    top_k_of,
)
from algorithms.base.tokenize import TOKENIZERS, cjk_share
from algorithms.base.tuning import Objective
from algorithms.params.text import (
    GradientBoostingParams,
    RandomForestParams,
    TextFeatureParams,
    XGBoostParams,
)

SEED = 0
AUTO_JIEBA_SHARE = 0.5


def build_features(params: dict[str, Any], tokenizer: str) -> Any:
    """The TF-IDF vectorizer (or a union of word and character vectorizers) for resolved params."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    common = {
        "max_features": params["max_features"],
        "min_df": params["min_df"],
        "sublinear_tf": params["sublinear_tf"],
        "lowercase": params["lowercase"],
        "dtype": np.float32,
    }
    if tokenizer == "char":
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(params["ngram_min"], params["ngram_max"]), **common
        )
    words = TfidfVectorizer(
        tokenizer=TOKENIZERS[tokenizer],
        token_pattern=None,
        ngram_range=(params["ngram_min"], params["ngram_max"]),
        **common,
    )
    if not params["add_char_ngrams"]:
        return words
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(params["char_ngram_min"], params["char_ngram_max"]), **common
    )
    return FeatureUnion([("words", words), ("chars", chars)])


class TextPythonModel(mlflow.pyfunc.PythonModel):
    """Served classifier: vectorize, ``predict_proba``, rank the classes."""

    scenario: ClassVar[str] = SCENARIO

    def __init__(self, features: Any, classifier: Any, classes: list[str]) -> None:
        self.features = features
        self.classifier = classifier
        self.classes = list(classes)

    def proba(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.classifier.predict_proba(self.features.transform(texts)), dtype=np.float64)

    def classify(self, texts: list[str], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return results(self.proba(texts), self.classes, top_k_of(params, len(self.classes)))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return pd.DataFrame(
            self.classify(texts_of_frame(model_input), params), columns=["label", "probability", "top"]
        )


@dataclass
class TextFitted:
    model: TextPythonModel
    tokenizer: str
    n_features: int
    train_samples: int
    fit_seconds: float


def texts_and_labels(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise ValueError(f"text data needs columns text,label; missing {missing} in {list(frame.columns)}")
    frame = frame.dropna(subset=[TEXT_COLUMN, LABEL_COLUMN])
    labels = [str(v).strip() for v in frame[LABEL_COLUMN].tolist()]
    return [str(t) for t in frame[TEXT_COLUMN].tolist()], labels


class TextClassifierAlgorithm(Algorithm):
    """Shared fitting, evaluation and serving; subclasses name the classifier and its params."""

    scenario: ClassVar[str] = SCENARIO
    objective: ClassVar[Objective | None] = Objective("f1_macro", "max")
    serving_requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "scipy", "scikit-learn", "jieba")
    param_model: ClassVar[type[TextFeatureParams]] = TextFeatureParams

    def classifier_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The resolved params of the classifier itself (its model's fields beyond the shared features)."""
        return {
            k: params[k] for k in self.param_model.model_fields if k not in TextFeatureParams.model_fields
        }

    def build_classifier(self, params: dict[str, Any], n_classes: int) -> Any:
        raise NotImplementedError

    def fit(self, train: pd.DataFrame, params: dict[str, Any]) -> TextFitted:
        params = self.resolve_params(params)
        texts, labels = texts_and_labels(train)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"text classification needs at least 2 classes, the train split has {classes}")
        tokenizer = params["tokenizer"]
        if tokenizer == "auto":
            tokenizer = "jieba" if cjk_share(texts) >= AUTO_JIEBA_SHARE else "word"
        started = time.perf_counter()
        features = build_features(params, tokenizer)
        X = features.fit_transform(texts)
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        classifier = self.build_classifier(params, len(classes))
        classifier.fit(X, y)
        fit_seconds = time.perf_counter() - started
        return TextFitted(
            model=TextPythonModel(features, classifier, classes),
            tokenizer=tokenizer,
            n_features=int(X.shape[1]),
            train_samples=len(texts),
            fit_seconds=fit_seconds,
        )

    @staticmethod
    def predictions(fitted: TextFitted, data: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
        """(true labels, predicted labels, every class seen by the model or the data) of a split."""
        texts, labels = texts_and_labels(data)
        if not texts:
            return [], [], list(fitted.model.classes)
        proba = fitted.model.proba(texts)
        predicted = [fitted.model.classes[i] for i in proba.argmax(axis=1)]
        return labels, predicted, sorted(set(fitted.model.classes) | set(labels))

    def evaluate(self, fitted: TextFitted, data: pd.DataFrame) -> dict[str, float]:
        labels, predicted, classes = self.predictions(fitted, data)
        if not labels:
            return {"eval_samples": 0.0}
        return text_metrics(labels, predicted, classes)

    def plots(self, fitted: TextFitted, data: pd.DataFrame) -> dict[str, Any]:
        labels, predicted, classes = self.predictions(fitted, data)
        if not labels:
            return {}
        title = f"{self.name}: confusion matrix ({len(labels)} texts)"
        return {"confusion_matrix": confusion_figure(labels, predicted, classes, title=title)}

    def holdout(self, train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Stratified 80/20 split with a fixed seed: texts have no order worth keeping, classes may be rare."""
        from sklearn.model_selection import train_test_split

        labels = train[LABEL_COLUMN].astype(str)
        stratify = labels if labels.value_counts().min() >= 2 else None
        fit_part, val_part = train_test_split(train, test_size=0.2, random_state=SEED, stratify=stratify)
        return fit_part.reset_index(drop=True), val_part.reset_index(drop=True)

    def training_metrics(self, fitted: TextFitted) -> dict[str, float]:
        return {
            "train_samples": float(fitted.train_samples),
            "n_features": float(fitted.n_features),
            "n_classes": float(len(fitted.model.classes)),
            "fit_seconds": fitted.fit_seconds,
        }

    def pyfunc_model(self, fitted: TextFitted) -> TextPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return text_signature()

    def pip_requirements(self) -> list[str]:
        return pinned("mlflow", *self.serving_requirements)

    def model_metadata(self, fitted: TextFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "classes": fitted.model.classes,
            "tokenizer": fitted.tokenizer,
        }


class XGBoostText(TextClassifierAlgorithm):
    name: ClassVar[str] = "XGBoost"
    serving_requirements = (*TextClassifierAlgorithm.serving_requirements, "xgboost-cpu")
    param_model = XGBoostParams

    def build_classifier(self, params: dict[str, Any], n_classes: int) -> Any:
        from xgboost import XGBClassifier

        return XGBClassifier(
            tree_method="hist",
            random_state=SEED,
            **self.classifier_params(params),
        )


class GradientBoostingText(TextClassifierAlgorithm):
    name: ClassVar[str] = "GradientBoosting"
    param_model = GradientBoostingParams

    def build_classifier(self, params: dict[str, Any], n_classes: int) -> Any:
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(random_state=SEED, **self.classifier_params(params))


class RandomForestText(TextClassifierAlgorithm):
    name: ClassVar[str] = "RandomForest"
    param_model = RandomForestParams

    def build_classifier(self, params: dict[str, Any], n_classes: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=params["n_estimators"],
            max_depth=params["max_depth"] or None,
            min_samples_leaf=params["min_samples_leaf"],
            max_features=None if params["split_max_features"] == "all" else params["split_max_features"],
            class_weight=None if params["class_weight"] == "none" else params["class_weight"],
            n_jobs=-1,
            random_state=SEED,
        )


TEXT_ALGORITHMS: tuple[type[TextClassifierAlgorithm], ...] = (
    XGBoostText,
    GradientBoostingText,
    RandomForestText,
)
