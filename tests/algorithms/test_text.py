"""Text classification: picklable tokenizers, the three classifiers on generated texts (English and Chinese),
their metrics, the saved pyfunc and the text_classification contract."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.base.text import TextClassificationContract
from algorithms.base.tokenize import cjk_share, jieba_tokens, word_tokens
from algorithms.base.tracking import save_pyfunc
from algorithms.registry import algorithms_for, get_algorithm

SMALL = {
    "XGBoost": {"n_estimators": 40, "max_depth": 4},
    "GradientBoosting": {"n_estimators": 40},
    "RandomForest": {"n_estimators": 60},
}
VOCAB = {
    "sport": ["match", "goal", "team", "league", "coach", "score"],
    "finance": ["stock", "market", "bank", "profit", "shares", "price"],
    "weather": ["rain", "storm", "sunny", "forecast", "wind", "cloud"],
}
ZH_VOCAB = {
    "好评": ["好吃", "很快", "满意", "新鲜", "推荐"],
    "差评": ["难吃", "太慢", "失望", "冷了", "退款"],
}
FILLER = ["the", "a", "today", "really", "some", "news", "about", "and"]


def make_texts(n: int, seed: int, vocab: dict[str, list[str]] = VOCAB, sep: str = " ") -> pd.DataFrame:
    """Texts of 4 class words among filler (10% of them carry one word of another class: not trivial)."""
    rng = random.Random(seed)
    labels = sorted(vocab)
    rows = []
    for _ in range(n):
        label = rng.choice(labels)
        words = rng.choices(vocab[label], k=4) + rng.choices(
            FILLER if sep == " " else ["的", "了", "吧"], k=4
        )
        if rng.random() < 0.1:
            words.append(rng.choice(vocab[rng.choice([x for x in labels if x != label])]))
        rng.shuffle(words)
        rows.append({"text": sep.join(words), "label": label})
    return pd.DataFrame(rows)


def test_tokenizers_pickle_by_reference_and_segment_chinese() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    assert word_tokens("WIN £100 now!") == ["WIN", "£", "100", "now", "!"]
    assert jieba_tokens("外卖送得很快，味道好极了") == [
        t for t in jieba_tokens("外卖送得很快，味道好极了") if t.strip()
    ]
    assert "外卖" in jieba_tokens("外卖送得很快，味道好极了")
    vec = TfidfVectorizer(tokenizer=jieba_tokens, token_pattern=None).fit(["送得很快", "味道好极了"])
    restored = pickle.loads(pickle.dumps(vec))
    assert (restored.transform(["很快"]) != vec.transform(["很快"])).nnz == 0
    assert cjk_share(["abc", "中文", "混合 text"]) == pytest.approx(2 / 3)


def test_three_classifiers_are_registered_for_the_scenario() -> None:
    assert algorithms_for("text_classification") == ["GradientBoosting", "RandomForest", "XGBoost"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_each_classifier_learns_and_reports_metrics(name: str) -> None:
    algorithm = get_algorithm(name)
    fitted = algorithm.fit(make_texts(600, seed=1), SMALL[name])
    assert fitted.tokenizer == "word"
    metrics = algorithm.evaluate(fitted, make_texts(200, seed=2))
    assert metrics["accuracy"] > 0.9 and metrics["f1_macro"] > 0.9
    assert metrics["f1_weighted"] > 0.9
    for label in VOCAB:
        assert 0.0 <= metrics[f"class_{label}_f1"] <= 1.0 and metrics[f"class_{label}_support"] > 0
    proba = fitted.model.proba(["goal team coach league"])
    assert proba.shape == (1, 3) and proba.sum() == pytest.approx(1.0)
    assert fitted.model.classes[int(np.argmax(proba))] == "sport"


def test_auto_tokenizer_uses_jieba_for_chinese_and_char_ngrams_add_features() -> None:
    algorithm = get_algorithm("RandomForest")
    data = make_texts(400, seed=3, vocab=ZH_VOCAB, sep="")
    fitted = algorithm.fit(data, SMALL["RandomForest"])
    assert fitted.tokenizer == "jieba"
    assert algorithm.evaluate(fitted, make_texts(100, seed=4, vocab=ZH_VOCAB, sep=""))["accuracy"] > 0.9
    with_chars = algorithm.fit(data, SMALL["RandomForest"] | {"add_char_ngrams": True})
    assert with_chars.n_features > fitted.n_features
    chars_only = algorithm.fit(data, SMALL["RandomForest"] | {"tokenizer": "char", "ngram_max": 3})
    assert chars_only.tokenizer == "char"


def test_bad_params_are_named() -> None:
    algorithm = get_algorithm("XGBoost")
    with pytest.raises(ValueError, match="ngram_max"):
        algorithm.resolve_params({"ngram_min": 3, "ngram_max": 2})
    with pytest.raises(ValueError, match="tokenizer"):
        algorithm.resolve_params({"tokenizer": "spaces"})
    with pytest.raises(ValueError, match="unknown parameter"):
        algorithm.resolve_params({"min_samples_leaf": 3})  # a RandomForest param
    with pytest.raises(ValueError, match="at least 2 classes"):
        algorithm.fit(pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]}), SMALL["XGBoost"])


def test_stratified_holdout_keeps_every_class() -> None:
    frame = make_texts(100, seed=5)
    fit_part, val_part = get_algorithm("XGBoost").holdout(frame)
    assert len(fit_part) == 80 and len(val_part) == 20
    assert set(val_part["label"]) == set(VOCAB)


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    algorithm = get_algorithm("XGBoost")
    fitted = algorithm.fit(make_texts(600, seed=6), SMALL["XGBoost"])
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        tmp_path_factory.mktemp("text") / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )


def test_saved_pyfunc_and_contract_answer_by_the_contract(text_model_dir: Path) -> None:
    pyfunc = mlflow.pyfunc.load_model(str(text_model_dir))
    assert pyfunc.metadata.metadata["classes"] == sorted(VOCAB)
    texts = ["stock market profit", "rain storm forecast wind", "goal goal team"]
    frame = pyfunc.predict(pd.DataFrame({"text": texts}), params={"top_k": 2})
    assert frame["label"].tolist() == ["finance", "weather", "sport"]
    assert all(len(top) == 2 for top in frame["top"])

    contract = TextClassificationContract()
    served = ServedModel(uri="m", pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model())
    body = contract.predict({"texts": texts, "config": {"top_k": 3}}, served, Limits())
    assert [r["label"] for r in body["results"]] == ["finance", "weather", "sport"]
    for result in body["results"]:
        probs = [t["probability"] for t in result["top"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
        assert result["probability"] == probs[0] and result["label"] == result["top"][0]["label"]
    default = contract.predict({"texts": texts}, served, Limits())
    assert all(len(r["top"]) == 3 for r in default["results"])  # all 3 classes (at most 5)
    one = contract.predict({"texts": texts[:1], "config": {"top_k": 1}}, served, Limits())
    assert len(one["results"][0]["top"]) == 1 and one["metadata"]["count"] == 1
    # The slow path (DataFrame through the pyfunc) agrees with the fast path.
    slow = contract.predict(
        {"texts": texts, "config": {"top_k": 3}}, ServedModel(uri="m", pyfunc=pyfunc), Limits()
    )
    assert slow["results"] == body["results"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"texts": "one"}, 422),
        ({"texts": []}, 422),
        ({"texts": ["a", None]}, 422),
        ({"texts": ["a"], "config": {"top_k": 0}}, 422),
        ({"texts": ["a"], "config": {"top_k": "2"}}, 422),
        ({"texts": ["a"] * 6}, 413),
    ],
)
def test_contract_refuses_bad_requests(text_model_dir: Path, body: object, status: int) -> None:
    pyfunc = mlflow.pyfunc.load_model(str(text_model_dir))
    served = ServedModel(uri="m", pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model())
    with pytest.raises(ContractError) as err:
        TextClassificationContract().predict(body, served, Limits(max_batch_size=5))
    assert err.value.status == status
