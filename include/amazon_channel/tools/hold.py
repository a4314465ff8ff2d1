"""Release the hold on an Amazon order's packages: staff ship it although the buyer asked Amazon to cancel.

    python -m amazon_channel.hold release 000000042

ORDER is the Commerce order number or the Amazon order id. While a buyer's cancellation request is open, packages
of the order are held (not confirmed to Amazon); either cancel the order in Commerce, or release the hold and the
next DAG run confirms the held packages (task push_tracking). The Commerce DB is --db, else $COMMERCE_DB_URL, else
the `make run` default.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..commerce.db import commerce_engine
from ..shipping import release_hold
from .ship import DEFAULT_DB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hold", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="confirm the order's held packages to Amazon with the next run")
    release.add_argument("order", help="Commerce order number or Amazon order id")
    release.add_argument("--db", default=os.environ.get("COMMERCE_DB_URL", DEFAULT_DB))
    args = parser.parse_args(argv)
    try:
        result = release_hold(commerce_engine(args.db), args.order)
    except ValueError as exc:
        print(f"hold: {exc}", file=sys.stderr)
        return 2
    print(f"order {result['amazon_order_id']}: hold released, {result['packages_released']} package(s) go to Amazon "
          "with the next run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
