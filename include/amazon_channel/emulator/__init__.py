"""A real HTTP SP-API emulator for development, tests, demos and benchmarks.

`create_app(EmulatorConfig(...))` gives the FastAPI app; `python -m amazon_channel.emulator` serves it.

Where things live:
  app.py            create_app: builds the state and mounts the routers
  state.py          EmulatorConfig; SellerRegion (one seller in one region: world, feeds, rate buckets,
                    counters); Emulator (the seller-regions, clock, access tokens, fault rng)
  world.py          the seeded orders and their lifecycle on the emulator clock (model.py: statuses, records)
  money.py          what the buyer pays per item and order: prices, shipping, tax, promotions, gift wrap, COD
                    fee, delivery tip, business registration; and its ground truth for the admin API
  order_json.py     an order as Orders API v2026-01-01 renders it (items, buyer, recipient, money, packages)
  marketplaces.py   the emulator's marketplaces, per region with --sellers (Amazon's facts from amazon_channel.rules)
  seed_data.py      the catalog, names and addresses the world is drawn from
  gateway.py        auth (a token bound to its seller and region), rate limits, fault injection and headers
                    around every Amazon-facing call
  http.py           ApiError, Amazon's error body, query parameter parsing
  auth_api.py       Login with Amazon: POST /auth/o2/token
  orders_api.py     Orders v2026-01-01: searchOrders, getOrder
  shipments_api.py  Orders v0: confirmShipment
  feeds.py          feed documents and feeds, processed after a delay; the order-acknowledgement feed's cancels
  feeds_api.py      Feeds 2021-06-30: createFeedDocument, createFeed, getFeed, getFeedDocument, pre-signed URLs
  admin_api.py      the emulator's own admin API under /_emulator/
"""

from .app import create_app
from .state import EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]
