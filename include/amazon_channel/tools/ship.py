"""Record a shipment in Commerce, as staff or an ERP/WMS would.

    python -m amazon_channel.ship 000000042 --carrier ups --tracking 1Z999AA10123456784 [--item SKU-0001=2 ...]

ORDER is the Commerce order number or the Amazon order id. Without --item every unshipped item ships.
The Commerce DB is --db, else $COMMERCE_DB_URL, else the `make run` default. The next DAG run confirms the
package to Amazon (tasks reconcile_shipments and push_tracking), unless the buyer has asked Amazon to cancel the
order: then the package is held until the order is cancelled or the hold released (`python -m amazon_channel.hold`).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..commerce.db import commerce_engine
from ..commerce.shipments import create_shipment

DEFAULT_DB = "sqlite:///.airflow/commerce.db"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ship", description=__doc__.split("\n\n")[0])
    parser.add_argument("order", help="Commerce order number or Amazon order id")
    parser.add_argument("--carrier", required=True, help="Commerce carrier code, e.g. ups, usps, fedex, dhl")
    parser.add_argument("--tracking", required=True, help="tracking number")
    parser.add_argument("--title", help="carrier name shown to the buyer (for carriers Amazon does not list)")
    parser.add_argument("--item", action="append", default=[], metavar="SKU=QTY", help="ship only these items")
    parser.add_argument("--db", default=os.environ.get("COMMERCE_DB_URL", DEFAULT_DB))
    args = parser.parse_args(argv)
    try:
        items = {sku: int(qty) for sku, qty in (i.split("=", 1) for i in args.item)} or None
        result = create_shipment(commerce_engine(args.db), args.order, args.carrier, args.tracking, items, args.title)
    except ValueError as exc:
        print(f"ship: {exc}", file=sys.stderr)
        return 2
    print(f"order {result['order']}: shipment {result['shipment_id']}, track {result['track_id']}, "
          f"items {result['items']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
