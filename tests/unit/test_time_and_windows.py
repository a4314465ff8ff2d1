"""UTC timestamps (amazon_channel.timeutil) and the extraction window a run asks Amazon for (extract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from amazon_channel.extract import extraction_window, window_for_run
from amazon_channel.timeutil import iso_z, parse_iso

pytestmark = [pytest.mark.unit]

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-10T12:00:00Z", NOW),
    ("2026-03-10T12:00:00z", NOW),
    ("2026-03-10T12:00:00+00:00", NOW),
    ("2026-03-10T14:00:00+02:00", NOW),
    ("2026-03-10T07:00:00-05:00", NOW),
    ("2026-03-11T01:30:00+13:30", NOW),
    ("2026-03-10T12:00:00.250Z", NOW + timedelta(milliseconds=250)),
])
def test_parse_iso_gives_utc(text, expected):
    # Act
    parsed = parse_iso(text)

    # Assert
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["2026-03-10T12:00:00", "2026-03-10"])
def test_parse_iso_rejects_naive_times(text):
    # Act / Assert
    with pytest.raises(ValueError, match="no timezone"):
        parse_iso(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-10T12:00:00Z", "2026-03-10T12:00:00Z"),
    ("2026-03-10T14:00:00+02:00", "2026-03-10T12:00:00Z"),
    ("2026-03-09T23:30:00-01:00", "2026-03-10T00:30:00Z"),
    ("2026-03-10T12:00:00.999Z", "2026-03-10T12:00:00Z"),  # whole seconds, as Amazon writes them
])
def test_iso_z_round_trip(text, expected):
    # Act
    formatted = iso_z(parse_iso(text))

    # Assert
    assert formatted == expected and parse_iso(formatted) == parse_iso(expected)


def test_iso_z_converts_other_zones_to_utc():
    # Arrange
    tokyo = datetime(2026, 3, 10, 21, 0, tzinfo=timezone(timedelta(hours=9)))

    # Act / Assert
    assert iso_z(tokyo) == "2026-03-10T12:00:00Z"


@pytest.mark.parametrize(("start", "end", "overlap", "expected"), [
    pytest.param(at(10), at(11), timedelta(minutes=15), (at(9, 45), at(11)), id="15-minute overlap"),
    pytest.param(at(10), at(11), timedelta(0), (at(10), at(11)), id="no overlap"),
    pytest.param(at(10), at(11), timedelta(hours=1), (at(9), at(11)), id="longer overlap"),
    pytest.param(at(11), at(12), timedelta(minutes=15), (at(10, 45), at(11, 58)), id="end two minutes before now"),
    pytest.param(at(10), at(11, 58), timedelta(0), (at(10), at(11, 58)), id="end exactly two minutes before now"),
])
def test_extraction_window(start, end, overlap, expected):
    # Act
    window = extraction_window(start, end, overlap, now=NOW)

    # Assert
    assert (window.start, window.end) == expected


def test_extraction_window_default_overlap_is_fifteen_minutes():
    # Act
    window = extraction_window(at(10), at(11), now=NOW)

    # Assert
    assert window.start == at(9, 45)


@pytest.mark.parametrize(("start", "end"), [
    pytest.param(datetime(2026, 3, 10, 10), at(11), id="naive start"),
    pytest.param(at(10), datetime(2026, 3, 10, 11), id="naive end"),
])
def test_extraction_window_rejects_naive_bounds(start, end):
    # Act / Assert
    with pytest.raises(ValueError, match="timezone-aware"):
        extraction_window(start, end, now=NOW)


@pytest.mark.parametrize(("start", "end"), [
    pytest.param(NOW, NOW + timedelta(hours=1), id="interval starts now"),
    pytest.param(at(11, 58), at(12), id="interval ends within Amazon's two minutes"),
    pytest.param(at(11), at(11), id="zero-length interval"),
])
def test_extraction_window_empty(start, end):
    # Act / Assert
    with pytest.raises(ValueError, match="empty extraction window"):
        extraction_window(start, end, timedelta(0), now=NOW)


def test_window_for_run_prefers_params_without_overlap():
    # Act
    window = window_for_run(at(10), at(11), "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", now=NOW)

    # Assert
    assert (iso_z(window.start), iso_z(window.end)) == ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")


def test_window_for_run_uses_the_data_interval_with_overlap():
    # Act
    window = window_for_run(at(10), at(11), now=NOW)

    # Assert
    assert (window.start, window.end) == (at(9, 45), at(11))


@pytest.mark.parametrize(("params", "message"), [
    pytest.param(("2026-03-01T00:00:00Z", None), "both", id="only window_start"),
    pytest.param((None, "2026-03-02T00:00:00Z"), "both", id="only window_end"),
    pytest.param((None, None), "no data interval", id="manual run without params"),
])
def test_window_for_run_refuses_to_guess(params, message):
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        window_for_run(None, None, *params, now=NOW)
