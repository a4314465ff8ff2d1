"""Amazon orders (v2026-01-01 JSON) as two flat pandas frames, raw text kept as Amazon sent it.

Validation checks these raw values; the transform parses them. Each order row keeps its position in the batch
(`order_pos`) so that item failures and quarantine rows point back to the whole order.
"""

from __future__ import annotations

import pandas as pd

ORDER_FIELDS = {
    "order_id": "orderId", "purchase_date": "createdTime", "last_updated": "lastUpdatedTime",
    "marketplace_id": "salesChannel.marketplaceId", "status": "fulfillment.fulfillmentStatus",
    "fulfilled_by": "fulfillment.fulfilledBy", "latest_ship_date": "fulfillment.shipByWindow.latestDateTime",
    "grand_total": "proceeds.grandTotal.amount", "currency": "proceeds.grandTotal.currencyCode",
    "buyer_email": "buyer.buyerEmail", "buyer_name": "buyer.buyerName", "buyer_company": "buyer.buyerCompanyName",
    "ship_name": "recipient.deliveryAddress.name", "ship_line1": "recipient.deliveryAddress.addressLine1",
    "ship_line2": "recipient.deliveryAddress.addressLine2", "ship_city": "recipient.deliveryAddress.city",
    "ship_region": "recipient.deliveryAddress.stateOrRegion", "ship_postcode": "recipient.deliveryAddress.postalCode",
    "ship_country": "recipient.deliveryAddress.countryCode", "ship_phone": "recipient.deliveryAddress.phone",
    "programs": "programs", "packages": "packages",
}
ITEM_FIELDS = {
    "order_item_id": "orderItemId", "sku": "product.sellerSku", "title": "product.title",
    "quantity": "quantityOrdered", "unit_price": "product.price.unitPrice.amount",
    "item_currency": "product.price.unitPrice.currencyCode", "quantity_shipped": "fulfillment.quantityFulfilled",
    "gift_message": "fulfillment.packing.giftOption.giftMessage",
}


def _getter(path: str):
    """Reads a dotted path; None where a level is missing or not an object, as pandas.json_normalize would give."""
    keys = path.split(".")

    def get(obj):
        for key in keys:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
        return None if isinstance(obj, dict) else obj

    return get


ORDER_GETTERS = {name: _getter(path) for name, path in ORDER_FIELDS.items()}
ITEM_GETTERS = {name: _getter(path) for name, path in ITEM_FIELDS.items()}


def flatten(orders: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders, items): one row per order (index = position in `orders`), one per item with its `order_pos`.

    Only the fields we use are read: much faster than flattening every nested key with json_normalize."""
    order_frame = pd.DataFrame({name: [get(o) for o in orders] for name, get in ORDER_GETTERS.items()}, dtype=object)
    positions, lines = [], []
    for pos, order in enumerate(orders):
        items = order.get("orderItems") if isinstance(order, dict) else None
        for line in items if isinstance(items, list) else ([] if items is None else [items]):
            if line is not None:
                positions.append(pos)
                lines.append(line)
    items = pd.DataFrame({name: [get(x) for x in lines] for name, get in ITEM_GETTERS.items()}, dtype=object)
    items["order_pos"] = pd.Series(positions, dtype="int64")
    return order_frame, items
