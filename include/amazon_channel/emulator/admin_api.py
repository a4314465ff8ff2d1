"""The emulator's own admin API under /_emulator/ (not Amazon's): health, ground truth, config, clock,
reset, stats, the buyer notifications sent for confirmed packages, the feeds and cancellations the seller sent,
and a buyer's cancellation request on demand. Tests and benchmarks drive it.

With `--sellers`, /_emulator/sellers lists each seller's authorization per region (what an operator puts in a
connection), and the ground truth, packages, notifications, cancellations, feeds and stats take optional
`seller_id` and `region` filters; without them they cover every seller-region, each entry carrying `sellerId` and
`region`. Clock, config and reset are global. Without `--sellers` every answer is what it always was.

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
from .state import Emulator, EmulatorDep, SellerRegion
from .world import BUYER_REQUEST_REASONS

router = APIRouter(prefix="/_emulator")


@router.get("/health")
async def health(emulator: EmulatorDep):
    return {"status": "ok", "now": iso_z(from_epoch(emulator.now())),
            "orders": sum(len(sr.world.records) for sr in emulator.seller_regions)}


@router.get("/sellers")  # each seller's authorization per region, as an operator copies it into a connection
async def sellers(request: Request, emulator: EmulatorDep):
    base = str(request.base_url).rstrip("/")
    cfg = emulator.config
    listed: dict[str, dict] = {}
    for sr in emulator.seller_regions if emulator.single is None else ():
        listed.setdefault(sr.seller_id, {"seller_id": sr.seller_id, "regions": {}})["regions"][sr.region] = {
            "client_id": cfg.client_id, "client_secret": cfg.client_secret, "refresh_token": sr.refresh_token,
            "endpoint": f"{base}/{sr.region}", "lwa_endpoint": f"{base}/auth/o2/token",
            "marketplace_ids": [m.marketplace_id for m in sr.marketplaces]}
    return {"sellers": list(listed.values())}


def selected(request: Request, emulator: Emulator) -> list[SellerRegion]:
    """The seller-regions the optional `seller_id` and `region` query parameters pick (all without them)."""
    return emulator.select(request.query_params.get("seller_id"), request.query_params.get("region"))


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


@router.get("/stats")  # counters summed over the selected seller-regions; with --sellers each one's too
async def stats(request: Request, emulator: EmulatorDep):
    chosen = selected(request, emulator)
    body = _stats(chosen)
    if emulator.single is None:
        body["sellerRegions"] = [{**sr.tag(), **_stats([sr])} for sr in chosen]
    return body


def _stats(chosen: list[SellerRegion]) -> dict:
    operations = {op: {key: sum(sr.stats[op][key] for sr in chosen) for key in counts}
                  for op, counts in chosen[0].stats.items()} if chosen else {}
    return {"operations": operations,
            "packages": sum(len(s.packages) for sr in chosen for s in sr.world.states.values()),
            "notifications": sum(len(sr.world.notifications) for sr in chosen)}


def truth(seller: SellerRegion, idx: int, now: int) -> dict:
    """What the emulator knows about an order at `now`, in its own shape (not Amazon's)."""
    world = seller.world
    record = world.records[idx]
    state = world.states.get(idx)
    change = world.last_change(idx, now)
    status = world.status(idx, now)
    cancellation = cancellation_truth(world, idx, now)
    return {**seller.tag(), "orderId": record.order_id, "marketplaceId": record.marketplace.marketplace_id,
            "fulfilledBy": "AMAZON" if record.fba else "MERCHANT", "status": status,
            "createdTime": iso_z(from_epoch(record.created)),
            "lastUpdatedTime": iso_z(from_epoch(change[0])) if change else None,
            "packages": [asdict(p) for p in state.packages.values()] if state else [],
            "cancellation": cancellation,
            "cancelRequestOpen": any(item["requested"] and not item["executed"] for item in cancellation),
            "money": ground_truth(world.money(idx), status) if world.ever_priced(idx, now) else None,
            "buyer": buyer_truth(world, idx)}


def buyer_truth(world, idx: int) -> dict:
    """The buyer's personal data as the world holds it, shared with the seller or not (FBA): what a search for leaks
    or for data kept too long looks for."""
    info = world.details(idx)
    return {"name": info["buyer_name"], "email": info["buyer_email"], "street": info["street"], "city": info["city"],
            "phone": info["phone"],
            "giftMessages": [item["gift_message"] for item in info["items"] if item["gift_message"]]}


def cancellation_truth(world, idx: int, now: int) -> list[dict]:
    """Per item: whether a buyer asked to cancel it (and why), whether it was cancelled, by whom and why."""
    blocks = world.cancellations(idx, now)
    truth_items = []
    for item in world.details(idx)["items"]:
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
    orders = [truth(sr, idx, now) for sr in selected(request, emulator)
              for _, idx in sr.world.changes_between(after, before, now, None)]
    return json_response({"now": iso_z(from_epoch(now)), "orders": orders})


def _find(request: Request, emulator: Emulator, order_id: str, now: int) -> tuple[SellerRegion | None, int | None]:
    """(seller-region, index) of an existing order among the selected seller-regions; (None, None) if none."""
    owner = emulator.order_owner.get(order_id)
    if owner is None or owner not in selected(request, emulator):
        return None, None
    idx = owner.world.by_id[order_id]
    return (owner, idx) if owner.world.status(idx, now) is not None else (None, None)


@router.get("/orders/{order_id}")  # one order's ground truth plus its Amazon JSON with every includedData block
async def truth_order(request: Request, order_id: str, emulator: EmulatorDep):
    emulator.settle()
    now = emulator.now()
    seller, idx = _find(request, emulator, order_id, now)
    if seller is None:
        return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
    return json_response({**truth(seller, idx, now), "order": seller.world.order_json(idx, now, INCLUDED_DATA)})


@router.get("/notifications")
async def notifications(request: Request, emulator: EmulatorDep):
    return {"notifications": [n for sr in selected(request, emulator) for n in sr.world.notifications]}


@router.post("/orders/{order_id}/cancellation-request")
async def cancellation_request(order_id: str, request: Request, emulator: EmulatorDep):
    """The buyer asks Amazon to cancel now: body optional {"reason", "orderItemIds"} (default: every item).
    Only an unshipped merchant order can be asked about; the request stays open until the seller acts."""
    emulator.settle()
    now = emulator.now()
    seller, idx = _find(request, emulator, order_id, now)
    if seller is None:
        return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
    world = seller.world
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
    return json_response({**truth(seller, idx, now), "order": world.order_json(idx, now, INCLUDED_DATA)})


@router.get("/cancellations")
async def cancellations(request: Request, emulator: EmulatorDep):
    """Every cancellation the seller sent by feed, and whether Amazon applied or refused it."""
    emulator.settle()
    return {"cancellations": [{**sr.tag(), **c} for sr in selected(request, emulator) for c in sr.feeds.cancellations]}


@router.get("/feeds")
async def feeds(request: Request, emulator: EmulatorDep):
    """Every feed received, as getFeed shows it, with its input document's id."""
    emulator.settle()
    return {"feeds": [{**sr.tag(), **feed.json(), "inputFeedDocumentId": feed.input_document_id,
                       "messages": feed.messages}
                      for sr in selected(request, emulator) for feed in sr.feeds.feeds.values()]}
