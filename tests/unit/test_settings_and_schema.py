"""Order Settings validation and the reviewed DDL, without services."""

from __future__ import annotations

import pytest

from amazon_channel.commerce.ddl import DIALECTS, render
from amazon_channel.settings import parse_settings
from tests.support import ROOT

pytestmark = [pytest.mark.unit]


def test_defaults_and_per_marketplace_overrides():
    settings = parse_settings(None)
    assert settings.default.customer_mode == "guest" and settings.default.new_order_status == "processing"
    assert settings.default.fba_create_order and not settings.default.reserve_pending_stock
    custom = parse_settings('{"default": {"store_id": 2}, '
                            '"marketplaces": {"A1PA6795UKMFR9": {"order_number": "amazon"}}}')
    de = custom.for_marketplace("A1PA6795UKMFR9")
    assert (de.store_id, de.order_number) == (2, "amazon")
    assert custom.for_marketplace("ATVPDKIKX0DER").order_number == "sequence"


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"default": {"customer_mode": "sometimes"}}', "default.customer_mode"),
    ('{"default": {"customer_mode": "predefined"}}', "predefined_customer_id"),
    ('{"defaults": {}}', "defaults: Extra inputs are not permitted"),
    ('{"marketplaces": {"ATVPDKIKX0DER": {"store_id": -1}}}', "marketplaces.ATVPDKIKX0DER: store_id"),
    ('{"max_bad_share": 2}', "max_bad_share"),
])
def test_broken_settings_get_a_clear_message(raw, message):
    with pytest.raises(ValueError, match="amazon_channel_order_settings|marketplaces") as err:
        parse_settings(raw)
    assert message in str(err.value)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_reviewed_ddl_matches_the_schema(dialect):
    assert (ROOT / "sql" / f"{dialect}.sql").read_text(encoding="utf-8") == render(dialect), "run `make ddl`"
