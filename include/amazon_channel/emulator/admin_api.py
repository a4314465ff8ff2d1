"""The emulator's own admin API under /_emulator/ (not Amazon's): health, ground truth, config, clock,
reset, stats, the buyer notifications sent for confirmed packages, the feeds and cancellations the seller sent,
and a buyer's cancellation request on demand. Tests and benchmarks drive it.

The ground truth of an order's money (`money`, money.ground_truth) comes from the world's own pricing, not from
the JSON the emulator renders, so a test can hold the rendered JSON and the pipeline's result against it.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..timeutil import from_epoch, iso_z
from .http import ApiError, error_response, json_response, time_param
from .model import UNSHIPPED
from .money import ground_truth
from .order_json import INCLUDED_DATA
from .state import Emulator, EmulatorDep
from .world import BUYER_REQUEST_REASONS

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


@router.post("/reset")  # the clock, config, packages, cancellations, feeds and tokens as at start
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
    cancellation = cancellation_truth(emulator, idx, now)
    return {"orderId": record.order_id, "marketplaceId": record.marketplace.marketplace_id,
            "fulfilledBy": "AMAZON" if record.fba else "MERCHANT", "status": status,
            "createdTime": iso_z(from_epoch(record.created)),
            "lastUpdatedTime": iso_z(from_epoch(change[0])) if change else None,
            "packages": [asdict(p) for p in state.packages.values()] if state else [],
            "cancellation": cancellation,
            "cancelRequestOpen": any(item["requested"] and not item["executed"] for item in cancellation),
            "money": ground_truth(world.money(idx), status) if world.ever_priced(idx, now) else None}


def cancellation_truth(emulator: Emulator, idx: int, now: int) -> list[dict]:
    """Per item: whether a buyer asked to cancel it (and why), whether it was cancelled, by whom and why."""
    blocks = emulator.world.cancellations(idx, now)
    truth_items = []
    for item in emulator.world.details(idx)["items"]:
        block = blocks.get(item["orderItemId"], {})
        request, execution = block.get("cancellationRequest"), block.get("cancellationExecution")
        truth_items.append({"orderItemId": item["orderItemId"], "requested": request is not None,
                            "requestReason": request and request["cancelReason"], "executed": execution is not None,
                            "cancelledBy": execution and execution["cancelledBy"],
                            "cancelReason": execution and execution.get("cancelReason")})
    return truth_items


@router.get("/orders")
async def truth_orders(request: Request, emulator: EmulatorDep):
    """Ground truth for a window: orders whose latest change lies in [lastUpdatedAfter, lastUpdatedBefore]."""
    emulator.settle()
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
    emulator.settle()
    idx = emulator.world.by_id.get(order_id)
    now = emulator.now()
    if idx is None or emulator.world.status(idx, now) is None:
        return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
    return json_response({**truth(emulator, idx, now), "order": emulator.world.order_json(idx, now, INCLUDED_DATA)})


@router.get("/notifications")
async def notifications(emulator: EmulatorDep):
    return {"notifications": emulator.world.notifications}


@router.post("/orders/{order_id}/cancellation-request")
async def cancellation_request(order_id: str, request: Request, emulator: EmulatorDep):
    """The buyer asks Amazon to cancel now: body optional {"reason", "orderItemIds"} (default: every item).
    Only an unshipped merchant order can be asked about; the request stays open until the seller acts."""
    emulator.settle()
    world, now = emulator.world, emulator.now()
    idx = world.by_id.get(order_id)
    if idx is None or world.status(idx, now) is None:
        return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
    body = await request.body()
    try:
        spec = json.loads(body) if body.strip() else {}
    except ValueError:
        spec = None
    if not isinstance(spec, dict):
        return JSONResponse({"detail": 'the body must be a JSON object {"reason", "orderItemIds"}'}, 400)
    item_ids = [item["orderItemId"] for item in world.details(idx)["items"]]
    wanted = spec.get("orderItemIds") or item_ids
    reason = spec.get("reason") or BUYER_REQUEST_REASONS[0]
    if world.records[idx].fba or world.status(idx, now) != UNSHIPPED:
        return JSONResponse({"detail": f"order {order_id} is not an unshipped merchant order "
                                       f"({world.status(idx, now)})"}, 409)
    if not isinstance(wanted, list) or set(wanted) - set(item_ids) or not isinstance(reason, str):
        return JSONResponse({"detail": f"orderItemIds must be items of {order_id} ({item_ids}); reason a string"},
                            400)
    world.request_cancellation(idx, wanted, reason, now)
    return json_response({**truth(emulator, idx, now), "order": world.order_json(idx, now, INCLUDED_DATA)})


@router.get("/cancellations")
async def cancellations(emulator: EmulatorDep):
    """Every cancellation the seller sent by feed, and whether Amazon applied or refused it."""
    emulator.settle()
    return {"cancellations": emulator.feeds.cancellations}


@router.get("/feeds")
async def feeds(emulator: EmulatorDep):
    """Every feed received, as getFeed shows it, with its input document's id."""
    emulator.settle()
    return {"feeds": [{**feed.json(), "inputFeedDocumentId": feed.input_document_id, "messages": feed.messages}
                      for feed in emulator.feeds.feeds.values()]}
