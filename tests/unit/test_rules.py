"""amazon_channel.rules: buyer identity, Commerce state by channel status, marketplaces and currencies, and which
channel orders are due a Commerce order."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import create_engine, insert, select

from amazon_channel import rules
from amazon_channel.commerce.schema import channel_amazon_order

pytestmark = [pytest.mark.unit]

ORDER_ID = "111-0000000-0000001"
PLACEHOLDER_EMAIL = f"{ORDER_ID}@buyer.amazon.invalid"


def _buyer(buyer_name, ship_name=None, buyer_email=None) -> pd.DataFrame:
    return pd.DataFrame({"buyer_name": [buyer_name], "ship_name": [ship_name], "buyer_email": [buyer_email],
                         "amazon_order_id": [ORDER_ID]}, dtype="string")


@pytest.mark.parametrize(("buyer_name", "ship_name", "expected"), [
    pytest.param("Cher", None, ("Cher", "Cher"), id="one word is first and last name"),
    pytest.param("Ann Lee", None, ("Ann", "Lee"), id="two words"),
    pytest.param("Mary Ann Lee", None, ("Mary Ann", "Lee"), id="three words: the last one is the last name"),
    pytest.param(None, "Bob Ray", ("Bob", "Ray"), id="no buyer name: the ship-to name"),
    pytest.param("Ann Lee", "Bob Ray", ("Ann", "Lee"), id="the buyer name wins over the ship-to name"),
    pytest.param(None, None, ("Amazon", "Customer"), id="no name at all: placeholders"),
])
def test_buyer_identity_names(buyer_name, ship_name, expected):
    # Arrange
    frame = _buyer(buyer_name, ship_name, "ann@example.com")

    # Act
    first, last, _ = rules.buyer_identity(frame)

    # Assert
    assert (first[0], last[0]) == expected


@pytest.mark.parametrize(("buyer_email", "expected"), [
    pytest.param("ann@example.com", "ann@example.com", id="shared e-mail is kept"),
    pytest.param(None, PLACEHOLDER_EMAIL, id="missing e-mail: per-order placeholder"),
])
def test_buyer_identity_email(buyer_email, expected):
    # Arrange
    frame = _buyer("Ann Lee", buyer_email=buyer_email)

    # Act
    _, _, email = rules.buyer_identity(frame)

    # Assert
    assert email[0] == expected


@pytest.mark.parametrize(("status", "channel", "expected"), [
    ("Unshipped", "MFN", "processing"),
    ("PartiallyShipped", "MFN", "processing"),
    ("Shipped", "MFN", "processing"),
    ("Shipped", "AFN", "complete"),
    ("Unshipped", "AFN", None),  # Amazon fulfils it: no Commerce order before it ships
    ("Canceled", "MFN", "canceled"),
    ("Canceled", "AFN", "canceled"),
    ("Pending", "MFN", None),
    ("PendingAvailability", "MFN", None),
    ("Unfulfillable", "AFN", None),
])
def test_commerce_state(status, channel, expected):
    # Arrange
    statuses, channels = pd.Series([status], dtype="string"), pd.Series([channel], dtype="string")

    # Act
    state = rules.commerce_state(statuses, channels)

    # Assert
    assert (None if pd.isna(state[0]) else state[0]) == expected


def test_commerce_state_keeps_the_index():
    # Arrange
    statuses = pd.Series(["Shipped", "Pending"], index=[7, 3], dtype="string")
    channels = pd.Series(["AFN", "MFN"], index=[7, 3], dtype="string")

    # Act
    state = rules.commerce_state(statuses, channels)

    # Assert
    assert list(state.index) == [7, 3] and state[7] == "complete" and pd.isna(state[3])


@pytest.mark.parametrize("marketplace", rules.MARKETPLACES, ids=lambda m: m.name)
def test_every_marketplace_currency_has_its_digits(marketplace):
    # Act
    digits = rules.CURRENCY_DECIMALS.get(marketplace.currency)

    # Assert
    assert digits == (0 if marketplace.currency == "JPY" else 2)


def test_marketplace_ids_are_unique_and_indexed():
    # Arrange
    ids = [m.marketplace_id for m in rules.MARKETPLACES]

    # Act
    by_id = rules.MARKETPLACE_BY_ID

    # Assert
    assert len(set(ids)) == len(ids) == len(by_id)
    assert all(by_id[i].marketplace_id == i for i in ids)
    assert rules.KNOWN_MARKETPLACE_IDS == ids


@pytest.mark.parametrize(("marketplace_id", "country", "currency", "region"), [
    ("ATVPDKIKX0DER", "US", "USD", "na"),
    ("A1F83G8C2ARO7P", "GB", "GBP", "eu"),
    ("A1PA6795UKMFR9", "DE", "EUR", "eu"),
    ("A1VC38T7YXB528", "JP", "JPY", "fe"),
])
def test_marketplace_by_id(marketplace_id, country, currency, region):
    # Act
    marketplace = rules.MARKETPLACE_BY_ID[marketplace_id]

    # Assert
    assert (marketplace.country, marketplace.currency, marketplace.region) == (country, currency, region)


# ---- due_for_commerce_order: the expression evaluated by SQLite in memory -------------------------------------

CHANNEL_ORDERS = [  # (amazon_order_id, fulfillment channel, status, marketplace)
    ("mfn-pending", "MFN", "Pending", "US"),
    ("mfn-unshipped", "MFN", "Unshipped", "US"),
    ("mfn-partial", "MFN", "PartiallyShipped", "DE"),
    ("mfn-shipped", "MFN", "Shipped", "DE"),
    ("mfn-canceled", "MFN", "Canceled", "US"),
    ("afn-unshipped", "AFN", "Unshipped", "US"),
    ("afn-shipped-us", "AFN", "Shipped", "US"),
    ("afn-shipped-de", "AFN", "Shipped", "DE"),
]


@pytest.fixture(scope="module")
def channel_orders_in_memory():
    engine = create_engine("sqlite://")
    channel_amazon_order.create(engine)
    moment = datetime(2026, 3, 10, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(channel_amazon_order), [
            {"amazon_order_id": order_id, "fulfillment_channel": channel, "status": status, "marketplace_id": market,
             "purchase_date": moment, "last_updated": moment, "is_prime": False, "is_business": False,
             "items_unshipped": 0} for order_id, channel, status, market in CHANNEL_ORDERS])
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("merchant", "fba", "expected"), [
    pytest.param(None, None, {"mfn-unshipped", "mfn-partial", "mfn-shipped", "afn-shipped-us", "afn-shipped-de"},
                 id="all marketplaces"),
    pytest.param(["DE"], None, {"mfn-partial", "mfn-shipped", "afn-shipped-us", "afn-shipped-de"},
                 id="merchant orders of one marketplace"),
    pytest.param(None, ["US"], {"mfn-unshipped", "mfn-partial", "mfn-shipped", "afn-shipped-us"},
                 id="FBA orders of one marketplace"),
    pytest.param([], [], set(), id="no marketplaces"),
])
def test_due_for_commerce_order(channel_orders_in_memory, merchant, fba, expected):
    # Arrange
    o = channel_amazon_order.c

    # Act
    condition = rules.due_for_commerce_order(merchant, fba)

    # Assert
    with channel_orders_in_memory.connect() as conn:
        due = set(conn.execute(select(o.amazon_order_id).where(condition)).scalars())
    assert due == expected
