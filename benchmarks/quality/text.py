"""Text classification quality: accuracy and macro F1 on SMS spam and waimai_10k, for each of the three classifiers.

Usage: ``python benchmarks/quality/text.py --data ../shared/data/text [--json] [--only sms_spam]``

Protocol: stratified 80/20 split (scikit-learn ``train_test_split``, ``random_state=42``), each algorithm
fitted through the platform's own module with its default params (tokenizer ``auto``: jieba for waimai),
scored on the 20%. Target: SMS spam accuracy >= 0.97 (no published figure for either set; a TF-IDF linear model
typically reaches >= 97% on SMS spam).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pandas as pd

from algorithms.text_classification import TEXT_ALGORITHMS

SEED = 42
TARGETS = {"sms_spam": 0.97}


def load(folder: Path, name: str) -> pd.DataFrame | None:
    if name == "sms_spam":
        path = folder / "sms_spam" / "SMSSpamCollection"
        if not path.is_file():
            return None
        return pd.read_csv(
            path, sep="\t", header=None, names=["label", "text"], quoting=csv.QUOTE_NONE, dtype=str
        )
    path = folder / "waimai_10k" / "waimai_10k.csv"
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype=str).rename(columns={"review": "text"})


def run(frame: pd.DataFrame, dataset: str) -> list[dict[str, Any]]:
    from sklearn.model_selection import train_test_split

    frame = frame.dropna(subset=["text", "label"])
    train, test = train_test_split(frame, test_size=0.2, random_state=SEED, stratify=frame["label"])
    rows = []
    for cls in TEXT_ALGORITHMS:
        algorithm = cls()
        started = time.perf_counter()
        fitted = algorithm.fit(train, {})
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        metrics = algorithm.evaluate(fitted, test)
        rows.append(
            {
                "dataset": dataset,
                "algorithm": algorithm.name,
                "tokenizer": fitted.tokenizer,
                "train": len(train),
                "test": len(test),
                "features": fitted.n_features,
                "accuracy": metrics["accuracy"],
                "f1_macro": metrics["f1_macro"],
                "f1_weighted": metrics["f1_weighted"],
                "fit_seconds": fit_seconds,
                "predict_ms_per_text": (time.perf_counter() - started) * 1000 / len(test),
                "target_accuracy": TARGETS.get(dataset),
            }
        )
        if dataset in TARGETS:
            rows[-1]["meets_target"] = metrics["accuracy"] >= TARGETS[dataset]
        print(
            f"  {dataset} {algorithm.name}: accuracy {metrics['accuracy']:.4f} in {fit_seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/text")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--only", choices=["sms_spam", "waimai_10k"], help="one dataset only")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for dataset in ("sms_spam", "waimai_10k"):
        if args.only and dataset != args.only:
            continue
        frame = load(args.data, dataset)
        if frame is not None:
            rows += run(frame, dataset)
    if not rows:
        print(f"neither sms_spam nor waimai_10k under {args.data}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"benchmark": "text_classification", "seed": SEED, "results": rows}, indent=1))
        return 0
    print(
        f"{'dataset':<11} {'algorithm':<17} {'tokenizer':<9} {'features':>8} {'accuracy':>8} {'macro F1':>8} "
        f"{'fit s':>7} {'ms/text':>7}  target"
    )
    for r in rows:
        target = (
            f"acc >= {r['target_accuracy']} {'met' if r.get('meets_target') else 'MISSED'}"
            if r["target_accuracy"]
            else "none published"
        )
        print(
            f"{r['dataset']:<11} {r['algorithm']:<17} {r['tokenizer']:<9} {r['features']:>8} {r['accuracy']:>8.4f} "
            f"{r['f1_macro']:>8.4f} {r['fit_seconds']:>7.1f} {r['predict_ms_per_text']:>7.2f}  {target}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
