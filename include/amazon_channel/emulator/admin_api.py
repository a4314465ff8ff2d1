"""The emulator's own admin API under /_emulator/ (not Amazon's): health, ground truth, config, clock,
reset, stats and the buyer notifications sent for confirmed packages. Tests and benchmarks drive it.

The ground truth of an order's money (`money`, money.ground_truth) comes from the world's own pricing, not from
the JSON the emulator renders, so a test can hold the rendered JSON and the pipeline's result against it.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..timeutil import from_epoch, iso_z
from .http import ApiError, error_response, json_response, time_param
from .money import ground_truth
from .order_json import INCLUDED_DATA
from .state import Emulator, EmulatorDep

router = APIRouter(prefix="/_emulator")


@router.get("/health")
async def health(emulator: EmulatorDep):
    return {"status": "ok", "now": iso_z(from_epoch(emulator.now())), "orders": len(emulator.world.records)}


@router.get("/config")
async def get_config(emulator: EmulatorDep):
    return asdict(emulator.config)


@router.patch("/config")  # changes run-time settings (EmulatorConfig.RUNTIME); anything else is a 400
async def patch_config(request: Request, emulator: EmulatorDep):
    try:
        emulator.update_config(await request.json())
    except ApiError as err:
        return error_response(err.status, err.code, err.message)
    return asdict(emulator.config)


@router.post("/reset")
async def reset(emulator: EmulatorDep):
    emulator.reset()
    return {"status": "reset"}


@router.post("/clock/advance")
async def advance_clock(seconds: float, emulator: EmulatorDep):
    emulator.clock_offset += seconds
    return {"now": iso_z(from_epoch(emulator.now()))}


@router.get("/stats")
async def stats(emulator: EmulatorDep):
    return {"operations": emulator.stats, "packages": sum(len(s.packages) for s in emulator.world.states.values()),
            "notifications": len(emulator.world.notifications)}


def truth(emulator: Emulator, idx: int, now: int) -> dict:
    """What the emulator knows about an order at `now`, in its own shape (not Amazon's)."""
    world = emulator.world
    record = world.records[idx]
    state = world.states.get(idx)
    change = world.last_change(idx, now)
    status = world.status(idx, now)
    return {"orderId": record.order_id, "marketplaceId": record.marketplace.marketplace_id,
            "fulfilledBy": "AMAZON" if record.fba else "MERCHANT", "status": status,
            "createdTime": iso_z(from_epoch(record.created)),
            "lastUpdatedTime": iso_z(from_epoch(change[0])) if change else None,
            "packages": [asdict(p) for p in state.packages.values()] if state else [],
            "money": ground_truth(world.money(idx), status) if world.ever_priced(idx, now) else None}


@router.get("/orders")
async def truth_orders(request: Request, emulator: EmulatorDep):
    """Ground truth for a window: orders whose latest change lies in [lastUpdatedAfter, lastUpdatedBefore]."""
    now = emulator.now()
    try:
        after = time_param(request, "lastUpdatedAfter") or 0
        before = time_param(request, "lastUpdatedBefore") or now
    except ApiError as err:
        return error_response(err.status, err.code, err.message)
    changed = emulator.world.changes_between(after, before, now, None)
    return json_response({"now": iso_z(from_epoch(now)), "orders": [truth(emulator, idx, now) for _, idx in changed]})


@router.get("/orders/{order_id}")  # one order's ground truth plus its Amazon JSON with every includedData block
async def truth_order(order_id: str, emulator: EmulatorDep):
    idx = emulator.world.by_id.get(order_id)
    now = emulator.now()
    if idx is None or emulator.world.status(idx, now) is None:
        return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
    return json_response({**truth(emulator, idx, now), "order": emulator.world.order_json(idx, now, INCLUDED_DATA)})


@router.get("/notifications")
async def notifications(emulator: EmulatorDep):
    return {"notifications": emulator.world.notifications}
