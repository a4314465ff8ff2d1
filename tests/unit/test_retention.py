"""Buyer data retention without services: the settings, when an order's period starts, and what redaction keeps."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from amazon_channel.errors import NotRetryableError
from amazon_channel.retention import clock_starts, expired, parse_retention_settings, redact_erased, redact_order

pytestmark = [pytest.mark.unit]

T = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def test_defaults_and_per_store_overrides():
    settings = parse_retention_settings(None)
    assert settings.default.days == 30 and settings.default.erase_commerce_guest_data
    custom = parse_retention_settings('{"stores": {"3": {"days": 400, "legal_hold": "Tax audit 2026 (LEG-12)"}, '
                                      '"4": {"erase_commerce_guest_data": false, "days": 10}}}')
    assert custom.for_store(3).days == 400 and custom.for_store(3).erase_commerce_guest_data
    assert custom.for_store(4).days == 10 and not custom.for_store(4).erase_commerce_guest_data
    assert custom.for_store(1) == custom.for_store(None) == custom.default
    assert custom.shortest_days() == 10


@pytest.mark.parametrize(("raw", "words"), [
    ('{"default": {"days": 31}}', "default: Value error, days: more than 30 needs a legal_hold"),
    ('{"stores": {"2": {"days": 90}}}', "stores.2"),
    ('{"default": {"days": -1}}', "default.days"),
    ('{"default": {"keep": true}}', "default.keep: Extra inputs are not permitted"),
    ('{"stores": {"x": {}}}', "stores.x"),
    ("{not json", "is not valid JSON"),
    ("[1]", "must be a JSON object"),
])
def test_a_broken_setting_is_refused_naming_the_field(raw, words):
    with pytest.raises(NotRetryableError, match="amazon_channel_buyer_data_retention") as refused:
        parse_retention_settings(raw)
    assert words in str(refused.value)


@pytest.mark.parametrize(("status", "last_updated", "deliver_by", "starts"), [
    ("Canceled", T, None, T),                              # cancellation: its last change
    ("Shipped", T, T + 3 * DAY, T + 3 * DAY),              # the delivery promise
    ("Shipped", T, T - 2 * DAY, T),                        # shipped after the promise: the shipment
    ("Shipped", T, None, T + 7 * DAY),                     # no promise: a week after the last change
    ("Unshipped", T, T, None),                             # still being fulfilled: kept
    ("PartiallyShipped", T, T, None),
    ("Pending", T, None, None),
])
def test_the_period_starts_at_delivery_or_cancellation(status, last_updated, deliver_by, starts):
    assert clock_starts(status, last_updated, deliver_by) == starts


def test_an_order_expires_on_the_last_day_of_its_period_not_before():
    start = T + 3 * DAY
    assert not expired("Shipped", T, start, 30, start + 30 * DAY - timedelta(seconds=1))
    assert expired("Shipped", T, start, 30, start + 30 * DAY)
    assert not expired("Unshipped", T, None, 0, T + 1000 * DAY)


ORDER = {
    "orderId": "111-2223334-4445556", "lastUpdatedTime": "2026-03-10T12:00:00Z",
    "buyer": {"buyerName": "Jane Doe", "buyerEmail": "x1@marketplace.amazon.com", "buyerCompanyName": "Doe Ltd.",
              "buyerPurchaseOrderNumber": "PO-1"},
    "recipient": {"deliveryAddress": {"name": "Jane Doe", "addressLine1": "1 Main St", "addressLine2": "Apt 2",
                                      "city": "Springfield", "stateOrRegion": "IL", "postalCode": "62701",
                                      "countryCode": "US", "phone": "+15550100", "companyName": "Doe Ltd."},
                  "deliveryPreference": {"addressInstruction": "behind the blue door"}},
    "proceeds": {"grandTotal": {"amount": "10.00", "currencyCode": "USD"}},
    "orderItems": [{"orderItemId": "1", "fulfillment": {"quantityFulfilled": 1, "packing": {
        "giftOption": {"giftMessage": "Happy birthday, Jane!", "giftWrapLevel": "STANDARD"}}}}],
}


def test_redaction_removes_buyer_data_and_keeps_everything_else():
    original = copy.deepcopy(ORDER)
    redacted = redact_order(ORDER)
    assert ORDER == original  # the input is not changed
    text = repr(redacted)
    for personal in ("Jane", "x1@", "Main St", "Apt 2", "Springfield", "+15550100", "blue door", "birthday"):
        assert personal not in text
    assert redacted["buyer"] == {"buyerCompanyName": "Doe Ltd.", "buyerPurchaseOrderNumber": "PO-1"}
    assert redacted["recipient"]["deliveryAddress"] == {"stateOrRegion": "IL", "postalCode": "62701",
                                                        "countryCode": "US", "companyName": "Doe Ltd."}
    assert redacted["orderItems"][0]["fulfillment"]["packing"]["giftOption"] == {"giftWrapLevel": "STANDARD"}
    assert redacted["proceeds"] == ORDER["proceeds"] and redact_order(redacted) == redacted


def test_redaction_copes_with_malformed_orders_and_only_touches_erased_ones():
    odd = {"orderId": "x", "buyer": "not an object", "recipient": None, "orderItems": [None, {"fulfillment": 3}]}
    assert redact_order(odd) == odd
    other = {**copy.deepcopy(ORDER), "orderId": "222-2223334-4445556"}
    page = redact_erased([ORDER, other, "garbage"], {ORDER["orderId"]})
    assert page[1] == other and page[2] == "garbage" and "buyerName" not in page[0]["buyer"]
