"""Cancel an Amazon order in Commerce, as staff would with the extension's "Cancel Order".

    python -m amazon_channel.cancel 000000042 --reason NoInventory

ORDER is the Commerce order number or the Amazon order id. Only a processing Commerce order whose Amazon order is
Unshipped can be cancelled; anything else is refused at once, saying why. The Commerce DB is --db, else
$COMMERCE_DB_URL, else the `make run` default. The next DAG run sends the cancellation to Amazon (task
push_cancellations); the order's note then says whether Amazon accepted it.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..cancellation import request_cancellation
from ..commerce.db import commerce_engine
from ..rules import CANCEL_REASONS
from .ship import DEFAULT_DB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cancel", description=__doc__.split("\n\n")[0])
    parser.add_argument("order", help="Commerce order number or Amazon order id")
    parser.add_argument("--reason", required=True, choices=CANCEL_REASONS, help="Amazon's CancelReason")
    parser.add_argument("--db", default=os.environ.get("COMMERCE_DB_URL", DEFAULT_DB))
    args = parser.parse_args(argv)
    try:
        result = request_cancellation(commerce_engine(args.db), args.order, args.reason)
    except ValueError as exc:
        print(f"cancel: {exc}", file=sys.stderr)
        return 2
    print(f"order {result['order']} ({result['amazon_order_id']}) canceled in Commerce ({result['reason']}, "
          f"{result['items']} items); the next DAG run sends the cancellation to Amazon")
    return 0


if __name__ == "__main__":
    sys.exit(main())
