"""What a buyer pays for an order, broken down the way Amazon breaks it down (Orders v2026-01-01 proceeds).

Per item: the charges (ITEM, SHIPPING, GIFT_WRAP, COD_FEE, OTHER), the tax on each of the first four, and the
promotion discounts on ITEM and SHIPPING (negative). Per order: a DELIVERY_TIP on some US orders, and, for
business orders, the purchase order number and the buyer's tax registration.

Tax is charged on each charge's shelf price, rounded half-up per item and charge to the currency's digits; what a
discount takes off the tax is TAX[DISCOUNT] (negative), so the buyer pays tax on what they pay after the discount.
Where prices exclude tax (US) it comes on top of the shelf price; where they include it (UK, DE, JP) it is inside
the shelf price, so each charge is the shelf price less its tax (ITEM + TAX[ITEM] is the shelf price) and a
discount is the shelf-price discount less the tax it holds. Either way the amounts add up exactly: an item's
charges, tax and discounts are its proceeds total, and the items' totals plus the tip are the grand total.

Everything here is drawn from the order's own random stream (`money-<seed>`), separate from the one that draws
buyers, items and lifecycles, so pricing can change without moving anything else in a seeded world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from .model import SHIPPED

if TYPE_CHECKING:
    from .model import OrderRecord

CHARGES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER")
TAXED_CHARGES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE")
DISCOUNTED_CHARGES = ("ITEM", "SHIPPING")
ZERO = Decimal(0)


@dataclass(frozen=True)
class TaxRule:
    inclusive: bool  # shelf prices include the tax (VAT, consumption tax) rather than have it added
    rates: dict[str, Decimal]  # by the address's stateOrRegion; "*" for the whole marketplace
    facilitator: str | None  # who withholds and remits the tax when Amazon is the marketplace facilitator


# US: the combined state and local rate of the city the seeded address is in; all three states tax shipping and
# gift wrap, and Amazon collects as marketplace facilitator. Elsewhere: the standard VAT / consumption tax rate.
TAX_RULES = {
    "US": TaxRule(False, {"WA": Decimal("0.1035"), "TX": Decimal("0.0825"), "NY": Decimal("0.08875")},
                  "Amazon.com Services LLC"),
    "UK": TaxRule(True, {"*": Decimal("0.20")}, None),
    "DE": TaxRule(True, {"*": Decimal("0.19")}, None),
    "JP": TaxRule(True, {"*": Decimal("0.10")}, None),
    # The other marketplaces of the three regions (`--sellers`): Canada's GST/HST by province on top of the price;
    # elsewhere the standard rate, inside the price.
    "CA": TaxRule(False, {"ON": Decimal("0.13"), "QC": Decimal("0.14975"), "BC": Decimal("0.12")}, None),
    "MX": TaxRule(True, {"*": Decimal("0.16")}, None),
    "BR": TaxRule(True, {"*": Decimal("0.17")}, None),
    "FR": TaxRule(True, {"*": Decimal("0.20")}, None),
    "IT": TaxRule(True, {"*": Decimal("0.22")}, None),
    "ES": TaxRule(True, {"*": Decimal("0.21")}, None),
    "TR": TaxRule(True, {"*": Decimal("0.20")}, None),
    "AU": TaxRule(True, {"*": Decimal("0.10")}, None),
    "SG": TaxRule(True, {"*": Decimal("0.09")}, None),
}
# Imports into the EU of goods worth up to EUR 150 may be taxed under the Import One Stop Shop, Amazon collecting.
IOSS_MARKETPLACES = {"DE"}
IOSS_LIMIT = Decimal(150)
IOSS_COLLECTOR = "Amazon Services Europe S.à r.l."
VAT_PREFIXES = {"UK": "GB", "DE": "DE", "FR": "FR", "IT": "IT", "ES": "ES"}  # a business buyer's VAT number

# Shelf prices of the extras, in catalog USD (turned into the local currency like the catalog) unless noted.
SHIPPING_PER_UNIT = Decimal("2.49")  # Prime orders ship free
GIFT_WRAP_PER_UNIT = Decimal("3.99")
COD_FEES = {"JP": Decimal(330)}  # Amazon.co.jp's cash-on-delivery fee in yen, tax included; on the first item
DELIVERY_TIPS = (Decimal(2), Decimal(3), Decimal(5))  # USD
ITEM_PROMOTION_PERCENTS = (5, 10, 15, 20)

# How often each feature occurs.
FREE_SHIPPING_SHARE = 0.15  # of orders that pay for shipping
ITEM_PROMOTION_SHARE = 0.12  # of items
GIFT_WRAP_SHARE = 0.6  # of items with a gift message
COD_SHARE = 0.15  # of orders in a marketplace with a COD fee
TIP_SHARE = 0.1  # of US orders
IOSS_SHARE = 0.3  # of orders that could be IOSS imports
TERSE_SHARE = 0.3  # of orders whose TAX or DISCOUNT on ITEM alone comes without detailedBreakdowns, as Amazon may


@dataclass(frozen=True)
class ItemMoney:
    order_item_id: str
    quantity: int
    unit_price: Decimal  # Amazon's unitPrice: the shelf price (with tax where prices include it)
    amounts: dict[str, Decimal]  # every CHARGES key
    tax: dict[str, Decimal]  # every TAXED_CHARGES key, and DISCOUNT: the tax the discounts took off (<= 0)
    discount: dict[str, Decimal]  # every DISCOUNTED_CHARGES key; zero or negative
    proceeds_total: Decimal  # the sum of all the above
    promotion_ids: tuple[str, ...]
    tax_collector: str | None  # responsibleParty when Amazon collects the tax as marketplace facilitator
    reporting_scheme: str | None  # IOSS for EU imports under the Import One Stop Shop


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    digits: int
    tax_inclusive: bool
    items: tuple[ItemMoney, ...]
    category_totals: dict[str, Decimal]  # CHARGES, TAX and DISCOUNT summed over the items (DELIVERY_TIP aside)
    delivery_tip: Decimal | None
    grand_total: Decimal  # the items' proceeds totals plus the tip
    purchase_order_number: str | None
    buyer_registration: tuple[str, str] | None  # (taxRegistrationType, taxRegistrationNumber)
    buyer_legal_name: str | None
    terse: bool  # a TAX or DISCOUNT applying to ITEM alone is rendered without detailedBreakdowns


def delivery_tip_status(fulfillment_status: str | None) -> str:
    """Amazon settles a delivery tip once the order has shipped."""
    return "FINALIZED" if fulfillment_status == SHIPPED else "PENDING"


def price_order(record: OrderRecord, info: dict) -> OrderMoney:
    """The order's money, from its record and contents (World.details), the same every time for the same seed."""
    mp = record.marketplace
    rule = TAX_RULES[mp.code]
    rate = rule.rates.get(info["region"], rule.rates.get("*"))
    quantum = Decimal(1).scaleb(-mp.decimals)

    def local(usd: Decimal) -> Decimal:
        return (usd * mp.price_factor).quantize(quantum)

    def tax_on(paid: Decimal) -> Decimal:
        tax = paid * rate / (1 + rate) if rule.inclusive else paid * rate
        return tax.quantize(quantum, ROUND_HALF_UP)

    rng = random.Random(f"money-{record.seed}")
    pays_shipping = not info["prime"]
    free_shipping = pays_shipping and rng.random() < FREE_SHIPPING_SHARE
    cod_fee = COD_FEES[mp.code] if mp.code in COD_FEES and rng.random() < COD_SHARE else ZERO
    tip = local(rng.choice(DELIVERY_TIPS)) if mp.code == "US" and rng.random() < TIP_SHARE else None
    goods = sum((item["unit_price"] * item["quantity"] for item in info["items"]), ZERO)
    ioss = mp.code in IOSS_MARKETPLACES and goods <= IOSS_LIMIT and rng.random() < IOSS_SHARE
    terse = rng.random() < TERSE_SHARE
    registration = _buyer_registration(mp.code, rng) if info["company"] else None

    shipping_fee = local(SHIPPING_PER_UNIT) if pays_shipping else ZERO
    gift_wrap_fee = local(GIFT_WRAP_PER_UNIT)
    collector, scheme = (IOSS_COLLECTOR, "IOSS") if ioss else (rule.facilitator, None)
    items = []
    totals = dict.fromkeys((*CHARGES, "TAX", "DISCOUNT"), ZERO)
    for n, item in enumerate(info["items"]):
        quantity = item["quantity"]
        wrapped = item["gift_message"] is not None and rng.random() < GIFT_WRAP_SHARE
        shelf = {"ITEM": item["unit_price"] * quantity, "SHIPPING": shipping_fee * quantity,
                 "GIFT_WRAP": gift_wrap_fee * quantity if wrapped else ZERO, "COD_FEE": cod_fee if n == 0 else ZERO}
        discount = dict.fromkeys(DISCOUNTED_CHARGES, ZERO)
        promotion_ids = []
        if rng.random() < ITEM_PROMOTION_SHARE:
            percent = rng.choice(ITEM_PROMOTION_PERCENTS)
            discount["ITEM"] = ZERO - (shelf["ITEM"] * percent / 100).quantize(quantum, ROUND_HALF_UP)
            promotion_ids.append(f"{mp.code}-{percent}PCT-OFF")
        if free_shipping:
            discount["SHIPPING"] = ZERO - shelf["SHIPPING"]
            promotion_ids.append(f"{mp.code}-FREE-SHIPPING")
        tax = {charge: tax_on(price) if price else ZERO for charge, price in shelf.items()}
        amounts = {charge: price - tax[charge] if rule.inclusive else price for charge, price in shelf.items()}
        # A discount lowers the tax as well; Amazon reports that as TAX[DISCOUNT] (negative), so each charge keeps
        # the full rate (an item's tax_percent is the marketplace's rate, discounted or not).
        tax_saved = {charge: tax_on(shelf[charge] + cut) - tax[charge] for charge, cut in discount.items() if cut}
        tax["DISCOUNT"] = sum(tax_saved.values(), ZERO)
        if rule.inclusive:  # a shelf-price discount holds its tax: the DISCOUNT is the part without it
            discount = {charge: cut - tax_saved.get(charge, ZERO) for charge, cut in discount.items()}
        amounts["OTHER"] = ZERO  # Amazon's category for anything else; the emulator charges nothing else
        tax_total, discount_total = sum(tax.values()), sum(discount.values())
        for charge, amount in amounts.items():
            totals[charge] += amount
        totals["TAX"] += tax_total
        totals["DISCOUNT"] += discount_total
        items.append(ItemMoney(
            order_item_id=item["orderItemId"], quantity=quantity, unit_price=item["unit_price"], amounts=amounts,
            tax=tax, discount=discount, proceeds_total=sum(amounts.values()) + tax_total + discount_total,
            promotion_ids=tuple(promotion_ids), tax_collector=collector, reporting_scheme=scheme))
    grand_total = sum(i.proceeds_total for i in items) + (tip or ZERO)
    return OrderMoney(currency=mp.currency, digits=mp.decimals, tax_inclusive=rule.inclusive, items=tuple(items),
                      category_totals=totals, delivery_tip=tip, grand_total=grand_total,
                      purchase_order_number=info["purchase_order"], buyer_registration=registration,
                      buyer_legal_name=info["company"], terse=terse)


def _buyer_registration(code: str, rng: random.Random) -> tuple[str, str]:
    """A business buyer's registration: a VAT number in the UK and the EU, a business number elsewhere
    (a US employer identification number, a Japanese qualified-invoice issuer number)."""
    def digits(k: int) -> str:
        return f"{rng.randrange(10**k):0{k}d}"

    if code in VAT_PREFIXES:
        return "VAT", f"{VAT_PREFIXES[code]}{digits(9)}"
    if code == "JP":
        return "BUSINESS", f"T{digits(13)}"
    return "BUSINESS", f"{digits(2)}-{digits(7)}"


def ground_truth(money: OrderMoney, fulfillment_status: str | None) -> dict:
    """The order's money in the emulator's own shape (the admin API's `money`), amounts as exact strings."""
    quantum = Decimal(1).scaleb(-money.digits)

    def text(amount: Decimal) -> str:
        return str(amount.quantize(quantum))

    tip = None
    if money.delivery_tip is not None:
        tip = {"amount": text(money.delivery_tip), "status": delivery_tip_status(fulfillment_status)}
    registration = None
    if money.buyer_registration:
        registration = {"type": money.buyer_registration[0], "number": money.buyer_registration[1]}
    return {
        "currency": money.currency, "grandTotal": text(money.grand_total), "taxInclusive": money.tax_inclusive,
        "deliveryTip": tip, "purchaseOrderNumber": money.purchase_order_number, "buyerTaxRegistration": registration,
        "items": [{
            "orderItemId": item.order_item_id, "quantity": item.quantity, "unitPrice": text(item.unit_price),
            "promotionIds": list(item.promotion_ids),
            "taxCollectionModel": "MARKETPLACE_FACILITATOR" if item.tax_collector else None,
            "reportingScheme": item.reporting_scheme, "proceedsTotal": text(item.proceeds_total),
            "amounts": {charge: text(v) for charge, v in item.amounts.items()},
            "tax": {charge: text(v) for charge, v in item.tax.items()},
            "discount": {charge: text(v) for charge, v in item.discount.items()},
        } for item in money.items],
    }
