"""Commerce carrier codes to Amazon's carrierCode (amazon_channel.shipping): defaults, the Variable's overrides."""

from __future__ import annotations

import pytest

from amazon_channel.shipping import CARRIER_VARIABLE, DEFAULT_CARRIERS, amazon_carrier, carrier_mapping

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize("raw", [None, ""])
def test_no_variable_gives_the_defaults(raw):
    # Act
    mapping = carrier_mapping(raw)

    # Assert
    assert mapping == DEFAULT_CARRIERS and mapping["ups"] == "UPS" and mapping["japan_post"] == "Japan Post"


def test_the_defaults_are_a_copy():
    # Arrange
    mapping = carrier_mapping(None)

    # Act
    mapping["ups"] = "changed"

    # Assert
    assert DEFAULT_CARRIERS["ups"] == "UPS"


@pytest.mark.parametrize(("raw", "code", "expected"), [
    pytest.param('{"acme": "ACME Freight"}', "acme", "ACME Freight", id="adds a carrier"),
    pytest.param('{"ups": "UPS Mail Innovations"}', "ups", "UPS Mail Innovations", id="overrides a default"),
    pytest.param('{"MyCarrier": "DPD"}', "mycarrier", "DPD", id="codes are case-insensitive"),
    pytest.param({"acme": "ACME Freight"}, "acme", "ACME Freight", id="an already parsed object"),
    pytest.param('{"acme": "ACME Freight"}', "fedex", "FedEx", id="keeps the other defaults"),
])
def test_overrides(raw, code, expected):
    # Act
    mapping = carrier_mapping(raw)

    # Assert
    assert mapping[code] == expected


@pytest.mark.parametrize(("raw", "message"), [
    pytest.param("{ups: UPS}", "is not valid JSON", id="not JSON"),
    pytest.param('["ups", "UPS"]', "must be a JSON object of strings", id="a list"),
    pytest.param('"UPS"', "must be a JSON object of strings", id="a string"),
    pytest.param('{"ups": 1}', "must be a JSON object of strings", id="a number value"),
    pytest.param('{"ups": ""}', "must be a JSON object of strings", id="an empty value"),
    pytest.param('{"ups": null}', "must be a JSON object of strings", id="a null value"),
])
def test_malformed_variable_is_a_clear_error(raw, message):
    # Act / Assert
    with pytest.raises(ValueError, match=message) as error:
        carrier_mapping(raw)
    assert CARRIER_VARIABLE in str(error.value)


@pytest.mark.parametrize(("code", "title", "expected"), [
    pytest.param("ups", "United Parcel Service", ("UPS", None), id="mapped: no carrier name"),
    pytest.param("UPS", None, ("UPS", None), id="mapped, any case"),
    pytest.param("acme", "ACME Freight", ("Other", "ACME Freight"), id="unmapped: Other with the title"),
    pytest.param("acme", None, ("Other", "acme"), id="unmapped without title: Other with the code"),
    pytest.param("acme", "", ("Other", "acme"), id="unmapped with empty title: Other with the code"),
])
def test_amazon_carrier(code, title, expected):
    # Arrange
    mapping = carrier_mapping(None)

    # Act
    result = amazon_carrier(code, title, mapping)

    # Assert
    assert result == expected
