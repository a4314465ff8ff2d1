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


def _select(flat: pd.DataFrame, fields: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=flat.index)
    for name, path in fields.items():
        out[name] = flat[path] if path in flat.columns else None
    return out.astype(object).where(out.notna(), None)


def flatten(orders: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders, items): one row per order (index = position in `orders`), one per item with its `order_pos`."""
    if not orders:
        empty_items = _select(pd.DataFrame(), ITEM_FIELDS)
        empty_items["order_pos"] = pd.Series([], dtype="int64")
        return _select(pd.DataFrame(), ORDER_FIELDS), empty_items
    flat = pd.json_normalize(orders)
    order_frame = _select(flat, ORDER_FIELDS)
    exploded = flat["orderItems"].explode().dropna() if "orderItems" in flat.columns else pd.Series(dtype=object)
    item_flat = pd.json_normalize(exploded.tolist()) if len(exploded) else pd.DataFrame()
    items = _select(item_flat, ITEM_FIELDS)
    items["order_pos"] = exploded.index.to_numpy().astype("int64")
    return order_frame, items.reset_index(drop=True)
