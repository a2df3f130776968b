"""Content validators of the CSV and text scenarios: a valid upload's summary, and bad input refused with
a message naming the row, column or line (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.errors import ValidationError
from catalog.validators import validate_upload
from infra.settings import reset_settings
from tests.catalog.samples import series_csv, text_csv, write

pytestmark = pytest.mark.usefixtures("fresh_settings")


def check(tmp_path: Path, scenario: str, data: bytes | str, name: str = "up.csv"):  # type: ignore[no-untyped-def]
    return validate_upload(scenario, write(tmp_path / "upload", data), name)


def refused(tmp_path: Path, scenario: str, data: bytes | str, *fragments: str) -> str:
    with pytest.raises(ValidationError) as err:
        check(tmp_path, scenario, data)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- anomaly detection -------------------------------------------------------------------------------------


def test_anomaly_valid_summary(tmp_path: Path) -> None:
    summary = check(tmp_path, "anomaly_detection", series_csv(50)).summary
    assert summary["rows"] == 50 and summary["value_columns"] == ["value"]
    assert summary["labels"] == {"0": 47, "1": 3}
    assert summary["time"]["frequency"] == "h" and summary["time"]["sorted"] is True
    assert summary["time"]["start"].startswith("2024-01-01T00:00:00")


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("", ("empty",)),
        ("timestamp,label\n2024-01-01,0\n", ("numeric value column",)),
        ("value,label\n1,0\n", ("missing column", "timestamp")),
        ("timestamp,value\n2024-01-01,1\n2024-01-02,abc\n", ("row 3", "'value'", "'abc'")),
        ("timestamp,value\n2024-01-01,1\nyesterday,2\n", ("row 3", "'timestamp'", "yesterday")),
        ("timestamp,value\n2024-01-01,1\n2024-01-02,2\n2024-01-01,3\n", ("row 4", "duplicate", "row 2")),
        ("timestamp,value,label\n2024-01-01,1,0\n2024-01-02,2,2\n", ("row 3", "'label'", "not 0 or 1")),
        ("timestamp,value,value\n2024-01-01,1,2\n", ("duplicate column",)),
        ("timestamp,value\n2024-01-01,1\n2024-01-02\n", ("row 3", "'value'", "''")),
        ("timestamp,value\n", ("no rows",)),
        (b"timestamp,value\n2024-01-01,\xff\xfe\n", ("line 2", "not UTF-8")),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", ("binary",)),
    ],
)
def test_anomaly_refusals(tmp_path: Path, data: bytes | str, fragments: tuple[str, ...]) -> None:
    refused(tmp_path, "anomaly_detection", data, *fragments)


def test_duplicates_found_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.validators import csvread

    monkeypatch.setattr(csvread, "CHUNK_ROWS", 7)
    body = series_csv(30, label=False)
    lines = body.splitlines()
    lines.append(lines[3].split(",")[0] + ",1.0")  # row 31 repeats row 4's timestamp, chunks apart
    refused(tmp_path, "anomaly_detection", "\n".join(lines) + "\n", "row 32", "duplicate", "row 4")


# -- time-series forecasting -------------------------------------------------------------------------------


def test_timeseries_keeps_regressors(tmp_path: Path) -> None:
    summary = check(tmp_path, "timeseries_predict", series_csv(40, label=False, extra="temp")).summary
    assert summary["rows"] == 40 and summary["regressors"] == ["temp"] and summary["target"] == "value"
    assert set(summary["stats"]) == {"value", "temp"}


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("timestamp,y\n2024-01-01,1\n", ("missing column", "value")),
        ("timestamp,value,temp\n2024-01-01,1,warm\n", ("row 2", "'temp'", "warm")),
        ("timestamp,value\n2024-01-01,1\n2024-01-01T00:00:00,2\n", ("row 3", "duplicate")),
        ("timestamp,value\n2024-13-45,1\n", ("row 2", "timestamp")),
    ],
)
def test_timeseries_refusals(tmp_path: Path, data: str, fragments: tuple[str, ...]) -> None:
    refused(tmp_path, "timeseries_predict", data, *fragments)


# -- text classification -----------------------------------------------------------------------------------


def test_text_csv_with_chinese(tmp_path: Path) -> None:
    summary = check(tmp_path, "text_classification", text_csv(12)).summary
    assert summary["rows"] == 12 and summary["classes"] == ["neg", "neutral", "pos"]
    assert summary["labels"] == {"pos": 6, "neg": 3, "neutral": 3}
    assert summary["cjk_rows"] == 9


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("sentence,label\nhi,pos\n", ("missing column", "text")),
        ("text,label\nhello,pos\n,neg\n", ("row 3", "'text'", "empty")),
        ("text,label\nhello,\n", ("row 2", "'label'", "empty")),
        ("这是一个很好的产品,pos\n".encode("gb18030"), ("not UTF-8",)),
    ],
)
def test_text_csv_refusals(tmp_path: Path, data: bytes | str, fragments: tuple[str, ...]) -> None:
    refused(tmp_path, "text_classification", data, *fragments)


# -- CSV headers: column cap, linear checks --------------------------------------------------------------


def wide_csv(columns: list[str]) -> str:
    return ",".join(columns) + "\n" + ",".join("1" for _ in columns) + "\n"


@pytest.mark.parametrize("scenario", ["anomaly_detection", "timeseries_predict", "text_classification"])
def test_a_header_of_80000_columns_is_refused_at_the_column_cap(tmp_path: Path, scenario: str) -> None:
    columns = ["timestamp", "value", "text", "label"] + [f"c{i}" for i in range(80_000 - 4)]
    message = refused(
        tmp_path,
        scenario,
        wide_csv(columns),
        "line 1",
        "80000 columns",
        "limit of 1000",
        "MLOPS_UPLOAD_MAX_COLUMNS",
    )
    assert len(message) < 300


def test_the_column_cap_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_COLUMNS", "4")
    reset_settings()
    refused(
        tmp_path, "anomaly_detection", "timestamp,a,b,c,d\n2024-01-01,1,2,3,4\n", "5 columns", "limit of 4"
    )
    assert check(tmp_path, "anomaly_detection", "timestamp,a,b,c\n2024-01-01,1,2,3\n").summary["rows"] == 1


def test_duplicate_and_unnamed_columns_in_a_wide_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a raised cap: every duplicate is found (in first-seen order), and the message stays short."""
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_COLUMNS", "200000")
    reset_settings()
    columns = ["timestamp"] + [f"c{i}" for i in range(100_000)]
    duplicated = [*columns, "c5", "c99999", "c5", *(f"c{i}" for i in range(10, 400))]
    message = refused(
        tmp_path,
        "anomaly_detection",
        wide_csv(duplicated),
        "line 1",
        "duplicate column",
        "'c5'",
        "'c99999'",
        "392 duplicate",
    )
    assert message.index("'c5'") < message.index("'c99999'") and len(message) < 400
    unnamed = refused(
        tmp_path,
        "anomaly_detection",
        wide_csv([*columns[:50_000], " ", *columns[50_000:]]),
        "column 50001 has no name",
    )
    assert len(unnamed) < 400


def test_an_endless_header_line_is_not_parsed_whole(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "text_classification",
        "text" + "x" * (5 << 20),
        "header line is longer than",
        "MLOPS_UPLOAD_MAX_COLUMNS",
    )
    assert len(message) < 300


# -- errors quote excerpts, never whole inputs ------------------------------------------------------------


def test_a_huge_cell_is_quoted_as_an_excerpt(tmp_path: Path) -> None:
    cell = "7" * 3_000_000 + "x"
    message = refused(
        tmp_path,
        "anomaly_detection",
        f"timestamp,value\n2024-01-01,1\n2024-01-02,{cell}\n",
        "row 3",
        "'value'",
        "3000001 characters",
        "'777",
    )
    assert len(message) < 300
    stamp = refused(tmp_path, "timeseries_predict", f"timestamp,value\n{cell},1\n", "row 2", "'timestamp'")
    assert len(stamp) < 300


def test_messages_about_many_columns_stay_short(tmp_path: Path) -> None:
    columns = [f"column_{i}_" + "x" * 50 for i in range(900)]
    for scenario, fragment in (
        ("anomaly_detection", "missing column"),
        ("text_classification", "missing column"),
    ):
        message = refused(tmp_path, scenario, wide_csv(columns), fragment)
        assert len(message) < 600, len(message)


# -- log clustering ----------------------------------------------------------------------------------------


def test_log_counts_replacements_and_line_endings(tmp_path: Path) -> None:
    data = b"alpha started\r\nbeta \xff\xfe failed\r\n\r\ngamma ok\rdelta \xc3\xa9t\xc3\xa9\nlast line"
    summary = check(tmp_path, "log_clustering", data, "app.log").summary
    assert summary["lines"] == 5 and summary["blank_lines"] == 1
    assert summary["invalid_utf8_replaced"] == 2  # \xff and \xfe: two invalid start bytes
    assert summary["line_endings"] == {"lf": 1, "crlf": 3, "cr": 1}
    assert summary["sample"][1] == "beta \ufffd\ufffd failed" and summary["sample"][3] == "delta été"


def test_log_crlf_split_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.validators import logreader

    monkeypatch.setattr(logreader, "CHUNK_BYTES", 4)  # "abc\r" | "\ndef" puts the CRLF across two reads
    summary = check(tmp_path, "log_clustering", b"abc\r\ndef\r\nghi", "x.log").summary
    assert summary["lines"] == 3 and summary["line_endings"] == {"lf": 0, "crlf": 2, "cr": 0}


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (b"\n\n   \r\n", ("no messages", "blank")),
        (b"ok line\nbinary\x00here\n", ("line 2", "NUL")),
        (bytes(range(128, 256)) * 40, ("not text", "invalid UTF-8")),
    ],
)
def test_log_refusals(tmp_path: Path, data: bytes, fragments: tuple[str, ...]) -> None:
    refused(tmp_path, "log_clustering", data, *fragments)


def test_log_line_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_LINE_CHARS", "100")
    reset_settings()
    refused(tmp_path, "log_clustering", b"short\n" + b"x" * 500 + b"\n", "line 2", "longer than 100")
    refused(tmp_path, "log_clustering", b"y" * (3 << 20), "line 1", "longer than 100")  # no newline at all


def test_unknown_scenario(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        check(tmp_path, "nope", "a")


def test_validators_never_trust_the_extension(tmp_path: Path) -> None:
    refused(tmp_path, "image_classification", series_csv(5), "not a ZIP")
    refused(tmp_path, "object_detection", b"PK\x03\x04garbage", "not a ZIP")
