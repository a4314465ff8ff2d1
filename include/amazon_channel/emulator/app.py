"""The SP-API emulator as a FastAPI app: `create_app(config)` builds the state and mounts the routers.

Amazon-facing routes answer with Amazon's shapes (validated against ../shared/spapi-models in the tests).
Everything under /_emulator/ is the emulator's own admin API: ground truth, config, clock, stats.
Handlers are `async` and never block, so the single event loop serialises all state changes.
Without `--sellers` Amazon's routes are on the unprefixed paths (one endpoint); with it, on each region's prefix
(/na, /eu, /fe) and nowhere else, as Amazon's regional endpoints. LWA, the pre-signed URLs and the admin API are
shared by all regions.
The module map is in the package docstring (__init__.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from . import admin_api, auth_api, feeds_api, orders_api, shipments_api
from .http import ApiError, error_response
from .marketplaces import REGIONS
from .state import Emulator, EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]

AMAZON_ROUTERS = (orders_api.router, shipments_api.router, feeds_api.router)  # per region with --sellers
SHARED_ROUTERS = (auth_api.router, feeds_api.documents_router, admin_api.router)


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    emulator = Emulator(config or EmulatorConfig())
    app = FastAPI(title="SP-API emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json")
    app.state.emulator = emulator
    # An ApiError a route leaves uncaught (the admin API's filters) answers in Amazon's error shape.
    app.add_exception_handler(ApiError, lambda _, err: error_response(err.status, err.code, err.message, err.details))
    for router in SHARED_ROUTERS:
        app.include_router(router)
    for prefix in [""] if emulator.single else [f"/{region}" for region in REGIONS]:
        for router in AMAZON_ROUTERS:
            app.include_router(router, prefix=prefix)
    return app
