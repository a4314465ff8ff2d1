"""The SP-API emulator as a FastAPI app: `create_app(config)` builds the state and mounts the routers.

Amazon-facing routes answer with Amazon's shapes (validated against ../shared/spapi-models in the tests).
Everything under /_emulator/ is the emulator's own admin API: ground truth, config, clock, stats.
Handlers are `async` and never block, so the single event loop serialises all state changes.
The module map is in the package docstring (__init__.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from . import admin_api, auth_api, feeds_api, orders_api, shipments_api
from .state import Emulator, EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]

ROUTERS = (auth_api.router, orders_api.router, shipments_api.router, feeds_api.router, admin_api.router)


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    emulator = Emulator(config or EmulatorConfig())
    app = FastAPI(title="SP-API emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json")
    app.state.emulator = emulator
    for router in ROUTERS:
        app.include_router(router)
    return app
