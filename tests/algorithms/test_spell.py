"""Spell: the parser's pieces (LCS, prefix tree, simple loop, masking, log format, unknown lines,
serialisation), the algorithm's metrics, and the log_clustering contract — on generated logs."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest

import algorithms.spell_parser as sp
from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.base.logs import LogClusteringContract, LogSplit, grouping_accuracy
from algorithms.base.tracking import save_pyfunc
from algorithms.registry import get_algorithm
from algorithms.spell_parser import SpellParser, compile_log_format, lcs, merge_template

FORMAT = "<Date> <Time> <Level> <Component>: <Content>"
EVENTS = {
    "E1": "Receiving block blk_{n} src /{ip}:{port} dest /{ip}:{port}",
    "E2": "PacketResponder {d} for block blk_{n} terminating",
    "E3": "Connection from {ip} closed after {n} ms",
    "E4": "Session 0x{hex} expired for user {user}",
    "E5": "Disk quota exceeded on volume {user} by {n} bytes",
    "E6": "Scheduler started with {d} workers",
}


def make_logs(n: int, seed: int, events: dict[str, str] = EVENTS) -> tuple[list[str], list[str]]:
    """``n`` raw lines with a header, and each line's event id."""
    rng = random.Random(seed)
    lines, ids = [], []
    for i in range(n):
        event = rng.choice(sorted(events))
        message = events[event].format(
            n=rng.randrange(10**9),
            ip=".".join(str(rng.randrange(256)) for _ in range(4)),
            port=rng.randrange(1024, 65535),
            d=rng.randrange(10),
            hex=f"{rng.randrange(16**8):x}",
            user=rng.choice(["alice", "bob", "carol", "dave"]),
        )
        lines.append(f"2024-05-0{1 + i % 9} 10:00:{i % 60:02d} INFO svc.{event.lower()}: {message}")
        ids.append(event)
    return lines, ids


def test_lcs_and_template_merge() -> None:
    assert lcs(["a", "b", "c", "d", "e"], ["a", "x", "c", "e"]) == ["a", "c", "e"]
    assert lcs([], ["a"]) == []
    # Tokens outside the common part become <*>; a tail after the last common token collapses to one <*>.
    assert merge_template(["a", "c"], ["a", "b", "c"]) == ["a", "<*>", "c"]
    assert merge_template(["a"], ["a", "b", "c"]) == ["a", "<*>"]


def test_masking_defaults_custom_and_none() -> None:
    default = SpellParser()
    assert default.tokens("from 10.0.0.1:8080 id 0xdeadBEEF took 42 ms blk_77") == [
        "from",
        "<*>",
        "id",
        "<*>",
        "took",
        "<*>",
        "ms",
        "blk_77",
    ]
    custom = SpellParser(masking=[r"blk_-?\d+"])
    assert custom.tokens("block blk_-12 size 5") == ["block", "<*>", "size", "5"]
    assert SpellParser(masking=[]).tokens("a=1, b:2") == ["a", "1", "b", "2"]
    with pytest.raises(ValueError, match="masking regex"):
        SpellParser(masking=["("])


def test_log_format_extracts_the_message_and_keeps_unformatted_lines() -> None:
    parser = SpellParser(log_format=FORMAT, masking=[])
    assert parser.content("2024-05-01 10:00:00 INFO svc.a: Disk full on sda") == "Disk full on sda"
    # A line outside the format is parsed whole rather than dropped (indices stay aligned).
    assert parser.content("garbage without header") == "garbage without header"
    bracket = SpellParser(log_format=r"\[<Time>\] \[<Level>\] <Content>", masking=[])
    assert bracket.content("[Sun Dec 04 2005] [error] child 6 failed") == "child 6 failed"
    assert compile_log_format("<Content>") is None
    with pytest.raises(ValueError, match="Content"):
        compile_log_format("<Date> <Message>")


def test_prefix_tree_matches_without_an_lcs_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = SpellParser(tau=0.5, masking=[])
    parser.parse("job <*> finished in <*> seconds")

    def no_lcs(*_: object) -> list[str]:
        raise AssertionError("LCS scan reached although the prefix tree knows the template")

    monkeypatch.setattr(sp, "lcs", no_lcs)
    cluster = parser.parse("job 17 finished in 3 seconds")
    assert cluster.cluster_id == 0 and cluster.count == 2
    assert parser._prefix_match(parser._root, ["job", "finished", "in", "seconds"], 0) is cluster


def test_simple_loop_matches_reordered_tokens_without_lcs(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = SpellParser(tau=0.9, masking=[])
    parser.parse("alpha beta gamma delta")
    # Same tokens, other order: not a prefix-tree path, but every template token is in the message.
    assert parser._prefix_match(parser._root, ["delta", "gamma", "beta", "alpha"], 0) is None
    monkeypatch.setattr(sp, "lcs", lambda *_: (_ for _ in ()).throw(AssertionError("LCS reached")))
    assert parser.parse("delta gamma beta alpha").cluster_id == 0


def test_lcs_scan_generalises_the_template_and_tau_decides() -> None:
    loose = SpellParser(tau=0.5, masking=[])
    loose.parse("user alice logged in from berlin")
    cluster = loose.parse("user bob logged in from paris")
    assert cluster.text == "user <*> logged in from <*>" and len(loose.clusters) == 1
    # The trie was updated: the generalised template now matches a third user by prefix.
    assert loose.match("user carol logged in from rome") is cluster

    strict = SpellParser(tau=0.9, masking=[])
    strict.parse("user alice logged in from berlin")
    strict.parse("user bob logged in from paris")
    assert len(strict.clusters) == 2  # LCS 4 of 6 tokens < 0.9


def test_match_does_not_grow_the_model_and_reports_unknown() -> None:
    lines, _ = make_logs(300, seed=1)
    parser = SpellParser(log_format=FORMAT)
    parser.parse_all(lines)
    before = parser.to_dict()
    assert parser.match("totally unrelated words never seen here") is None
    assert parser.match(lines[0]) is not None
    assert parser.to_dict() == before


def test_serialisation_round_trip_json_and_pickle() -> None:
    lines, _ = make_logs(400, seed=2)
    parser = SpellParser(tau=0.6, log_format=FORMAT)
    parser.parse_all(lines)
    restored = SpellParser.from_dict(json.loads(json.dumps(parser.to_dict())))
    unpickled = pickle.loads(pickle.dumps(parser))
    fresh, _ = make_logs(200, seed=3)

    def ids(model: SpellParser) -> list[int | None]:
        return [None if (c := model.match(x)) is None else c.cluster_id for x in fresh]

    expected = ids(parser)
    assert None not in expected
    assert ids(restored) == expected and ids(unpickled) == expected
    assert restored.tau == 0.6 and restored.log_format == FORMAT


def test_grouping_accuracy_follows_loghub() -> None:
    truth = ["A", "A", "B", "B", "C"]
    assert grouping_accuracy(truth, [1, 1, 2, 2, 3]) == 1.0
    assert grouping_accuracy(truth, [1, 1, 1, 1, 3]) == pytest.approx(1 / 5)  # A and B merged: both wrong
    assert grouping_accuracy(truth, [1, 2, 3, 3, 4]) == pytest.approx(3 / 5)  # A split: its lines wrong


def test_algorithm_recovers_the_generated_events_and_evaluates_unknowns() -> None:
    algorithm = get_algorithm("Spell")
    lines, ids = make_logs(2000, seed=4)
    fitted = algorithm.fit(LogSplit(lines, ids), {"tau": 0.5, "log_format": FORMAT})
    metrics = algorithm.training_metrics(fitted)
    assert metrics["templates"] == len(EVENTS)
    assert metrics["train_grouping_accuracy"] == 1.0
    test_lines, test_ids = make_logs(300, seed=5)
    test_lines.append("2024-05-01 10:00:00 WARN svc.x: kernel panic imminent on reactor core")
    test_ids.append("E_NEW")
    evaluated = algorithm.evaluate(fitted, LogSplit(test_lines, test_ids))
    assert evaluated["coverage"] == pytest.approx(300 / 301)
    assert evaluated["grouping_accuracy"] == 1.0  # the new event occurs once: unknown is its own group
    assert evaluated["eval_templates"] == len(EVENTS)


def test_bad_params_are_named() -> None:
    algorithm = get_algorithm("Spell")
    with pytest.raises(ValueError, match="tau"):
        algorithm.resolve_params({"tau": 0})
    with pytest.raises(ValueError, match="masking regex"):
        algorithm.resolve_params({"masking": ["[unclosed"]})
    assert algorithm.resolve_params({})["masking"] == list(sp.DEFAULT_MASKING)


@pytest.fixture(scope="module")
def spell_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    algorithm = get_algorithm("Spell")
    lines, ids = make_logs(1000, seed=6)
    fitted = algorithm.fit(LogSplit(lines, ids), {"log_format": FORMAT})
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        tmp_path_factory.mktemp("spell") / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
    )


def test_saved_pyfunc_and_contract_answer_by_the_contract(spell_model_dir: Path) -> None:
    pyfunc = mlflow.pyfunc.load_model(str(spell_model_dir))
    assert pyfunc.metadata.metadata["scenario"] == "log_clustering"
    lines, ids = make_logs(50, seed=7)
    lines.insert(3, "something nobody has ever logged")
    frame = pyfunc.predict(pd.DataFrame({"line": lines}))
    assert list(frame.columns) == ["line", "cluster_id", "template"]
    assert frame.loc[3, "cluster_id"] == -1 and frame.loc[3, "template"] == "unknown"

    contract = LogClusteringContract()
    served = ServedModel(uri="m", pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model())
    body = contract.predict({"data": lines}, served, Limits())
    assert body["summary"] == {"total": 51, "matched": 50, "templates": len(set(ids)), "coverage": 50 / 51}
    assert body["unknown"] == [{"index": 3, "line": lines[3]}]
    groups = body["template_groups"]
    assert sum(g["count"] for g in groups) == 50
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    for group in groups:
        assert set(group) == {"cluster_id", "template", "count", "indices", "samples"}
        assert len(group["indices"]) == group["count"] and len(group["samples"]) <= 3
        assert group["samples"] == [lines[i] for i in group["indices"][:3]]
    # The slow path (DataFrame through the pyfunc) gives the same answer.
    slow = contract.predict({"data": lines}, ServedModel(uri="m", pyfunc=pyfunc), Limits())
    assert slow["template_groups"] == groups and slow["unknown"] == body["unknown"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"data": "one line"}, 422),
        ({"data": []}, 422),
        ({"data": ["ok", 3]}, 422),
        ([1], 422),
        ({"data": ["x"] * 11}, 413),
    ],
)
def test_contract_refuses_bad_requests(spell_model_dir: Path, body: object, status: int) -> None:
    pyfunc = mlflow.pyfunc.load_model(str(spell_model_dir))
    served = ServedModel(uri="m", pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model())
    with pytest.raises(ContractError) as err:
        LogClusteringContract().predict(body, served, Limits(max_batch_size=10))
    assert err.value.status == status
