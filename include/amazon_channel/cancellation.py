"""Cancel from Commerce (the seller's side): Commerce cancellations go to Amazon in the order-acknowledgement feed.

Amazon has no cancel operation; sellers send `POST_ORDER_ACKNOWLEDGEMENT_DATA` (an XML `OrderAcknowledgement`
with `StatusCode` Failure and a `CancelReason` per item) through the Feeds API and read the processing report.
The outbox `channel_amazon_cancellation` holds one row per cancelled order:

- `request_cancellation` (the `cancel` command) cancels a processing Commerce order of an Unshipped Amazon order
  and stores its row `pending` with the reason; held packages become `canceled`.
- `push_cancellations` (the DAG task) first finds Commerce orders of the channel cancelled any other way (staff,
  an ERP) and gives them a row; refuses rows whose order Amazon no longer lists as Unshipped; sends the rest, one
  feed per marketplace, the state committed before and after each call (pending → sending → submitted); polls the
  feeds within a time budget and records each order's result: `accepted` (the channel order is Canceled, the
  reservation released, an invoiced Commerce order refunded and closed) or `rejected` (Amazon's message).

Exactly once: a feed is polled until it is done, never sent again; only a row left `sending` (a crash between the
upload and a recorded feed id) is sent again in a new feed, and Amazon answers a cancellation of an order it has
already cancelled with success.
"""

from __future__ import annotations

import json
import logging
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from .accounts import DEFAULT_ACCOUNT_ID
from .batching import IN_LIST, chunked
from .commerce.db import in_transaction, insert_missing
from .commerce.load import money_text, refund_orders, release_canceled_reservations
from .commerce.notes import set_notes
from .commerce.schema import (
    channel_amazon_cancellation,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_package,
    sales_order,
)
from .rules import CANCEL_REASONS
from .spapi import SpApiClient, SpApiError
from .summaries import CancelSummary
from .timeutil import utcnow

log = logging.getLogger(__name__)

FEED_TYPE = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
CONTENT_TYPE = "text/xml; charset=UTF-8"
DEFAULT_MERCHANT = "SELLER"  # MerchantIdentifier when the connection names no extra.seller_id
MAX_MESSAGES = 5_000  # orders per feed; more wait for the next feed
SENDABLE_STATUS = "Unshipped"  # Amazon cancels only orders nothing has shipped of
FINAL_FEED_STATUSES = ("DONE", "FATAL", "CANCELLED")
POLL_FIRST_S, POLL_MAX_S = 1.0, 30.0  # getFeed pacing: processing takes minutes at Amazon, seconds in the emulator
REPORTED_PROBLEMS = 20  # rejections and refusals listed in the summary (and so in the alert)


class ReportError(ValueError):
    """A processing report that cannot be read (not XML, a DTD, not a ProcessingReport)."""


# ---- the feed document and its processing report ---------------------------------------------------------------

@dataclass(frozen=True)
class FeedMessage:
    message_id: int
    amazon_order_id: str
    reason: str
    order_item_ids: tuple[str, ...]


def feed_document(messages: list[FeedMessage], merchant_id: str) -> bytes:
    """The order-acknowledgement feed (UTF-8 XML): one Failure message per order, a CancelReason per item."""
    root = ET.Element("AmazonEnvelope", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                         "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd"})
    header = ET.SubElement(root, "Header")
    ET.SubElement(header, "DocumentVersion").text = "1.01"
    ET.SubElement(header, "MerchantIdentifier").text = merchant_id
    ET.SubElement(root, "MessageType").text = "OrderAcknowledgement"
    for message in messages:
        if message.reason not in CANCEL_REASONS:
            raise ValueError(f"{message.reason!r} is not one of Amazon's CancelReason values")
        element = ET.SubElement(root, "Message")
        ET.SubElement(element, "MessageID").text = str(message.message_id)
        ack = ET.SubElement(element, "OrderAcknowledgement")
        ET.SubElement(ack, "AmazonOrderID").text = message.amazon_order_id
        ET.SubElement(ack, "StatusCode").text = "Failure"
        for item_id in message.order_item_ids:
            item = ET.SubElement(ack, "Item")
            ET.SubElement(item, "AmazonOrderItemCode").text = item_id
            ET.SubElement(item, "CancelReason").text = message.reason
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


@dataclass
class ProcessingReport:
    status_code: str | None = None
    messages_processed: int | None = None
    errors: dict[int, str] = field(default_factory=dict)  # MessageID -> "ResultMessageCode: ResultDescription"
    errors_by_order: dict[str, str] = field(default_factory=dict)  # for Results that name no MessageID

    def error_for(self, message_id: int | None, amazon_order_id: str) -> str | None:
        """Amazon's error for that message, None when it succeeded (a message without an Error Result did)."""
        return self.errors.get(message_id) or self.errors_by_order.get(amazon_order_id)

    def reason(self) -> str:
        """Why a whole feed failed, in Amazon's words when the report has any."""
        said = list(dict.fromkeys([*self.errors.values(), *self.errors_by_order.values()]))
        return "; ".join(said)[:900] if said else f"Amazon could not process the feed ({self.status_code or 'FATAL'})"


def parse_processing_report(content: bytes) -> ProcessingReport:
    """Read a ProcessingReport. It comes from the network, so a document with a DTD or entity declarations is refused
    before parsing (no entity expansion, no external resources); it is read as UTF-8, whatever it declares."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportError("the processing report is not UTF-8") from None
    if "<!doctype" in text.lower() or "<!entity" in text.lower():
        raise ReportError("the processing report declares a DTD or entities; refused")
    try:
        root = ET.fromstring(text)  # a str: expat reads it as the UTF-8 it is, ignoring a declared encoding
    except ET.ParseError as exc:
        raise ReportError(f"the processing report is not well-formed XML ({exc})") from None
    report_element = next((e for e in root.iter() if _local(e.tag) == "ProcessingReport"), None)
    if _local(root.tag) != "AmazonEnvelope" or report_element is None:
        raise ReportError("the document is not an AmazonEnvelope holding a ProcessingReport")
    report = ProcessingReport(status_code=_text(report_element, "StatusCode"))
    processed = _text(report_element, "ProcessingSummary", "MessagesProcessed")
    report.messages_processed = int(processed) if processed and processed.isdigit() else None
    for result in (e for e in report_element if _local(e.tag) == "Result"):
        if (_text(result, "ResultCode") or "").lower() != "error":
            continue  # warnings do not stop a message
        code, description = _text(result, "ResultMessageCode"), _text(result, "ResultDescription")
        error = ": ".join(part for part in (code, description) if part) or "Error"
        message_id = _text(result, "MessageID")
        order_id = _text(result, "AdditionalInfo", "AmazonOrderID")
        if message_id and message_id.isdigit():
            report.errors[int(message_id)] = error
        elif order_id:
            report.errors_by_order[order_id] = error
    return report


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(element, *path: str) -> str | None:
    """The stripped text of the first descendant along `path` (child names, namespaces ignored)."""
    for name in path:
        element = next((child for child in element if _local(child.tag) == name), None)
        if element is None:
            return None
    return (element.text or "").strip() or None


# ---- the cancel command ---------------------------------------------------------------------------------------

def request_cancellation(engine: Engine, order: str, reason: str, now: datetime | None = None) -> dict:
    """Cancel a processing Commerce order of an Unshipped Amazon order (ORDER: Commerce number or Amazon order id)
    and queue its cancellation for Amazon; anything else is refused at once with the reason (ValueError)."""
    if reason not in CANCEL_REASONS:
        raise ValueError(f"unknown reason {reason!r}; Amazon's reasons: {', '.join(CANCEL_REASONS)}")
    now = now or utcnow()
    so, o, p, x = sales_order.c, channel_amazon_order.c, channel_amazon_package.c, channel_amazon_cancellation.c

    def cancel(conn: Connection) -> dict:
        row = conn.execute(select(so.entity_id, so.increment_id, so.state, o.amazon_order_id, o.account_id,
                                  o.marketplace_id, o.status)
                           .outerjoin(channel_amazon_order, o.sales_order_id == so.entity_id)
                           .where((so.increment_id == order) | (so.ext_order_id == order))).first()
        if row is None:
            raise ValueError(f"no Commerce order {order}")
        if row.amazon_order_id is None:
            raise ValueError(f"order {row.increment_id} is not an Amazon order")
        if row.state != "processing":
            raise ValueError(f"order {row.increment_id} is {row.state}; only processing orders can be cancelled")
        if row.status != SENDABLE_STATUS:
            raise ValueError(f"order {row.increment_id} is {row.status} at Amazon; only Unshipped orders can be "
                             f"cancelled")
        if conn.execute(select(x.state).where(x.amazon_order_id == row.amazon_order_id)).first():
            raise ValueError(f"order {row.increment_id}: a cancellation was already requested")
        live = conn.execute(select(p.state).where(p.amazon_order_id == row.amazon_order_id,
                                                  p.state.in_(["pending", "sending", "sent", "confirmed"]))).first()
        if live:
            raise ValueError(f"order {row.increment_id} has a package {live.state} for Amazon; cancel the shipment "
                             f"first")
        items = _open_items(conn, [row.amazon_order_id]).get(row.amazon_order_id, [])
        conn.execute(update(sales_order).where(so.entity_id == row.entity_id).values(
            state="canceled", status="canceled", updated_at=now))
        conn.execute(channel_amazon_cancellation.insert().values(
            amazon_order_id=row.amazon_order_id, account_id=row.account_id, marketplace_id=row.marketplace_id,
            sales_order_id=row.entity_id,
            reason=reason, items=json.dumps(items), state="pending", attempts=0, requested_at=now, updated_at=now))
        held = conn.execute(update(channel_amazon_package).where(
            p.amazon_order_id == row.amazon_order_id, p.state == "held").values(
            state="canceled", last_error="the order was cancelled in Commerce", updated_at=now)).rowcount
        set_notes(conn, {row.amazon_order_id: f"Cancelled in Commerce ({reason}); sent to Amazon by the next run"},
                  now)
        return {"order": row.increment_id, "amazon_order_id": row.amazon_order_id, "reason": reason,
                "items": len(items), "held_packages_canceled": held}

    return in_transaction(engine, cancel)


def _open_items(conn: Connection, amazon_order_ids: list[str]) -> dict[str, list[dict]]:
    """Each order's items with units neither shipped nor cancelled: what a cancellation cancels."""
    i = channel_amazon_order_item.c
    items: dict[str, list[dict]] = defaultdict(list)
    for ids in chunked(amazon_order_ids, IN_LIST):
        for order_id, item_id, left in conn.execute(
                select(i.amazon_order_id, i.order_item_id, i.qty_ordered - i.qty_shipped - i.qty_canceled)
                .where(i.amazon_order_id.in_(ids)).order_by(i.amazon_order_id, i.order_item_id)):
            if left > 0:
                items[order_id].append({"orderItemId": item_id, "quantity": int(left)})
    return items


# ---- the DAG task -----------------------------------------------------------------------------------------------

def push_cancellations(engine: Engine, client: SpApiClient, time_budget: float = 300.0,
                       max_messages: int = MAX_MESSAGES, poll_first: float = POLL_FIRST_S,
                       account_id: str = DEFAULT_ACCOUNT_ID) -> CancelSummary:
    """For the account's orders only, with its client: find new Commerce cancellations, refuse those Amazon cannot
    take, send the rest (one feed per marketplace), then poll every submitted feed until done or `time_budget`
    seconds are spent; record every outcome."""
    deadline = time.monotonic() + time_budget
    counts: Counter = Counter()
    problems: list[dict] = []
    counts["detected"] = detect_cancellations(engine, account_id=account_id)
    _refuse_unsendable(engine, counts, problems, account_id)
    merchant = client.config.seller_id or DEFAULT_MERCHANT
    c = channel_amazon_cancellation.c
    with engine.connect() as conn:
        queue = conn.execute(select(c.id, c.amazon_order_id, c.marketplace_id, c.reason,
                                    c["items"].label("order_items"), c.attempts)
                             .where(c.account_id == account_id, c.state.in_(["pending", "sending"]))
                             .order_by(c.id)).all()
    by_marketplace: dict[str, list] = defaultdict(list)
    for row in queue:
        by_marketplace[row.marketplace_id].append(row)
    for marketplace, rows in sorted(by_marketplace.items()):
        for batch in chunked(rows, max_messages):
            if time.monotonic() > deadline:
                counts["left_for_next_run"] += len(batch)
                continue
            _send_feed(engine, client, marketplace, batch, merchant, counts, problems)
    _poll_feeds(engine, client, deadline, poll_first, counts, problems, account_id)
    with engine.connect() as conn:
        counts["waiting_for_amazon"] = len(conn.execute(select(c.id).where(c.account_id == account_id,
                                                                           c.state == "submitted")).all())
    summary: CancelSummary = {**dict(sorted((k, v) for k, v in counts.items() if v)),
                              "problems": problems[:REPORTED_PROBLEMS]}
    log.info("push_cancellations: %s", {k: v for k, v in summary.items() if k != "problems"})
    return summary


def detect_cancellations(engine: Engine, now: datetime | None = None, account_id: str = DEFAULT_ACCOUNT_ID) -> int:
    """The account's Commerce orders of the channel cancelled in Commerce (staff, an ERP) get an outbox row. Orders
    Amazon itself cancelled never do: the loader cancels their Commerce order in the transaction that makes them
    Canceled."""
    now = now or utcnow()
    o, so, x = channel_amazon_order.c, sales_order.c, channel_amazon_cancellation.c

    def detect(conn: Connection) -> int:
        found = conn.execute(select(o.amazon_order_id, o.marketplace_id, o.sales_order_id, o.cancel_requested)
                             .join(sales_order, so.entity_id == o.sales_order_id)
                             .where(o.account_id == account_id, so.state == "canceled", o.status != "Canceled",
                                    ~select(x.id).where(x.amazon_order_id == o.amazon_order_id).exists())).all()
        if not found:
            return 0
        items = _open_items(conn, [row.amazon_order_id for row in found])
        insert_missing(conn, channel_amazon_cancellation, [
            {"amazon_order_id": row.amazon_order_id, "account_id": account_id, "marketplace_id": row.marketplace_id,
             "sales_order_id": row.sales_order_id, "reason": default_reason(row.cancel_requested),
             "items": json.dumps(items.get(row.amazon_order_id, [])), "state": "pending", "attempts": 0,
             "requested_at": now, "updated_at": now} for row in found], ["amazon_order_id"])
        return len(found)

    return in_transaction(engine, detect)


def default_reason(cancel_requested: bool) -> str:
    """The reason of a cancellation made in Commerce without one: the buyer's, when the buyer asked Amazon."""
    return "BuyerCanceled" if cancel_requested else "GeneralAdjustment"


def _refuse_unsendable(engine: Engine, counts: Counter, problems: list[dict], account_id: str) -> None:
    """Pending rows whose order Amazon no longer lists as Unshipped are not sent. One Amazon has meanwhile cancelled
    itself is settled as cancelled in Commerce too (an invoiced order is refunded)."""
    c, o = channel_amazon_cancellation.c, channel_amazon_order.c
    now = utcnow()

    def refuse(conn: Connection) -> tuple[list, dict[str, str]]:  # run again whole if a concurrent one aborts it
        rows = conn.execute(select(c.id, c.amazon_order_id, c.reason, o.status).join(
            channel_amazon_order, o.amazon_order_id == c.amazon_order_id).where(
            c.account_id == account_id, c.state == "pending", o.status != SENDABLE_STATUS)).all()
        why = {row.amazon_order_id: ("not sent: Amazon had already canceled the order" if row.status == "Canceled"
                                     else f"not sent: the order is {row.status} at Amazon; only Unshipped orders "
                                          f"can be cancelled") for row in rows}
        for row in rows:
            conn.execute(update(channel_amazon_cancellation).where(c.id == row.id).values(
                state="refused", last_error=why[row.amazon_order_id], updated_at=now))
        if rows:
            set_notes(conn, {order_id: f"Cancellation {text}" for order_id, text in why.items()}, now)
        already = {row.amazon_order_id: row.reason for row in rows if row.status == "Canceled"}
        if already:
            _settle(conn, already, now, "Canceled at Amazon before the cancellation was sent", account_id)
        return rows, why

    rows, why = in_transaction(engine, refuse)
    # Commerce and Amazon agree on a cancelled order: nothing to act on
    problems.extend({"amazon_order_id": row.amazon_order_id, "state": "refused", "error": why[row.amazon_order_id]}
                    for row in rows if row.status != "Canceled")
    counts["refused"] += len(rows)


def _send_feed(engine: Engine, client: SpApiClient, marketplace: str, rows: list, merchant: str,
               counts: Counter, problems: list[dict]) -> None:
    """createFeedDocument → upload → createFeed for one marketplace's rows, each step's outcome committed."""
    c = channel_amazon_cancellation.c
    ids = [row.id for row in rows]
    try:
        document = client.create_feed_document(CONTENT_TYPE)
    except SpApiError as err:
        _keep_for_next_run(engine, ids, err, counts)
        return
    messages = [FeedMessage(n, row.amazon_order_id, row.reason,
                            tuple(item["orderItemId"] for item in json.loads(row.order_items)))
                for n, row in enumerate(rows, start=1)]
    def mark_sending(conn: Connection) -> None:  # before the upload: a crash from here on leaves them to re-send
        for message, row in zip(messages, rows, strict=True):
            conn.execute(update(channel_amazon_cancellation).where(c.id == row.id).values(
                state="sending", feed_document_id=document["feedDocumentId"], feed_id=None,
                message_id=message.message_id, attempts=row.attempts + 1, updated_at=utcnow()))

    in_transaction(engine, mark_sending)
    try:
        client.upload_feed_document(document["url"], feed_document(messages, merchant), CONTENT_TYPE)
        feed_id = client.create_feed(FEED_TYPE, [marketplace], document["feedDocumentId"])
    except SpApiError as err:
        if err.operation == "createFeed" and _final(err):  # e.g. a marketplace Amazon does not serve
            message = f"{err.code}: {err.amazon_message}"
            _reject(engine, ids, message, problems)
            counts["rejected"] += len(ids)
        else:
            _keep_for_next_run(engine, ids, err, counts)
        return
    _set(engine, ids, state="submitted", feed_id=feed_id, last_error=None)  # after Amazon took the feed
    counts["feeds_created"] += 1
    counts["sent"] += len(ids)


def _poll_feeds(engine: Engine, client: SpApiClient, deadline: float, poll_first: float, counts: Counter,
                problems: list[dict], account_id: str) -> None:
    """getFeed for every submitted feed of the account (this run's and earlier runs') until each is final or the
    time is up."""
    c = channel_amazon_cancellation.c
    with engine.connect() as conn:
        waiting = sorted(set(conn.execute(select(c.feed_id).where(c.account_id == account_id,
                                                                  c.state == "submitted")).scalars()))
    pause = poll_first
    while waiting:
        for feed_id in list(waiting):
            try:
                feed = client.get_feed(feed_id)
                status = feed["processingStatus"]
                if status not in FINAL_FEED_STATUSES:
                    continue
                report = None
                if status in ("DONE", "FATAL") and feed.get("resultFeedDocumentId"):
                    report = parse_processing_report(client.download_feed_document(
                        client.get_feed_document(feed["resultFeedDocumentId"])))
            except (SpApiError, ReportError) as err:  # the feed stays submitted: the next run asks again
                _set(engine, _feed_rows(engine, feed_id), last_error=str(err)[:1000])
                counts["report_not_read"] += 1
                waiting.remove(feed_id)
                continue
            _record_results(engine, feed_id, status, report, counts, problems, account_id)
            waiting.remove(feed_id)
        if not waiting or time.monotonic() + pause > deadline:
            return
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_S)


def _record_results(engine: Engine, feed_id: str, status: str, report: ProcessingReport | None, counts: Counter,
                    problems: list[dict], account_id: str) -> None:
    """Each row of a finished feed is accepted or rejected, with what follows from it, in one transaction."""
    c = channel_amazon_cancellation.c
    now = utcnow()
    if status == "DONE" and report is None:
        report = ProcessingReport(status_code="Complete")  # no report: no message had an error

    def record(conn: Connection) -> tuple[list, dict[str, str], dict[int, str]]:  # run again whole if aborted
        rows = conn.execute(select(c.id, c.amazon_order_id, c.message_id, c.reason).where(
            c.account_id == account_id, c.feed_id == feed_id, c.state == "submitted")).all()
        errors = {}
        for row in rows:
            if status == "CANCELLED":
                errors[row.id] = "Amazon cancelled the feed before processing it; cancel the order again"
            elif status == "FATAL":
                errors[row.id] = "Amazon could not process the feed: " + (
                    report.reason() if report else "no processing report")
            else:
                errors[row.id] = report.error_for(row.message_id, row.amazon_order_id)
        rejected = [row for row in rows if errors[row.id]]
        accepted = {row.amazon_order_id: row.reason for row in rows if not errors[row.id]}
        for row in rejected:
            conn.execute(update(channel_amazon_cancellation).where(c.id == row.id).values(
                state="rejected", last_error=errors[row.id][:1024], updated_at=now))
        set_notes(conn, {row.amazon_order_id: f"Amazon refused to cancel the order: {errors[row.id]}"
                         for row in rejected}, now)
        if accepted:
            conn.execute(update(channel_amazon_cancellation).where(c.id.in_([r.id for r in rows if not errors[r.id]]))
                         .values(state="accepted", last_error=None, updated_at=now))
            _settle(conn, accepted, now, "Cancelled at Amazon", account_id)
        return rejected, accepted, errors

    rejected, accepted, errors = in_transaction(engine, record)
    problems.extend({"amazon_order_id": row.amazon_order_id, "state": "rejected", "error": errors[row.id]}
                    for row in rejected)
    counts["accepted"] += len(accepted)
    counts["rejected"] += len(rejected)


def _settle(conn: Connection, reasons: dict[str, str], now: datetime, what: str, account_id: str) -> None:
    """Orders Amazon has cancelled for us: the channel order is Canceled, the reservation released as the loader
    releases it, an invoiced Commerce order refunded whole and closed with a credit memo; a note says so."""
    o, so = channel_amazon_order.c, sales_order.c
    ids = list(reasons)
    for part in chunked(ids, IN_LIST):
        conn.execute(update(channel_amazon_order).where(o.amazon_order_id.in_(part)).values(status="Canceled"))
    orders = [row for part in chunked(ids, IN_LIST) for row in conn.execute(
        select(so.entity_id, o.last_updated, so.increment_id, so.total_invoiced, so.order_currency_code,
               o.amazon_order_id).join(channel_amazon_order, o.sales_order_id == so.entity_id)
        .where(o.amazon_order_id.in_(part), so.state == "canceled"))]
    invoiced = [row for row in orders if row.total_invoiced is not None]
    if invoiced:
        refund_orders(conn, invoiced, what)
    release_canceled_reservations(conn, account_id)
    closing = {row.amazon_order_id: (f"; Commerce order #{row.increment_id} closed, credit memo #{row.increment_id} "
                                     f"refunded {money_text(row.total_invoiced, row.order_currency_code)}"
                                     if row.total_invoiced is not None else "") for row in orders}
    set_notes(conn, {order_id: f"{what} ({reason}){closing.get(order_id, '')}"
                     for order_id, reason in reasons.items()}, now)


def _final(err: SpApiError) -> bool:
    """A refusal Amazon will repeat (4xx other than throttling), as opposed to throttling, 5xx and timeouts."""
    return err.status is not None and 400 <= err.status < 500 and err.status != 429


def _keep_for_next_run(engine: Engine, ids: list[int], err: SpApiError, counts: Counter) -> None:
    """Throttled, 5xx, out of time, or an upload refused: the rows keep their state and go in the next run's feed."""
    _set(engine, ids, last_error=str(err)[:1000])
    counts["retry_next_run"] += len(ids)


def _reject(engine: Engine, ids: list[int], message: str, problems: list[dict]) -> None:
    c = channel_amazon_cancellation.c
    now = utcnow()

    def reject(conn: Connection) -> list[str]:
        orders = conn.execute(select(c.amazon_order_id).where(c.id.in_(ids))).scalars().all()
        conn.execute(update(channel_amazon_cancellation).where(c.id.in_(ids)).values(
            state="rejected", last_error=message[:1024], updated_at=now))
        set_notes(conn, {order_id: f"Amazon refused to cancel the order: {message}" for order_id in orders}, now)
        return orders

    orders = in_transaction(engine, reject)
    problems.extend({"amazon_order_id": order_id, "state": "rejected", "error": message} for order_id in orders)


def _feed_rows(engine: Engine, feed_id: str) -> list[int]:
    c = channel_amazon_cancellation.c
    with engine.connect() as conn:
        return conn.execute(select(c.id).where(c.feed_id == feed_id, c.state == "submitted")).scalars().all()


def _set(engine: Engine, ids: list[int], **values) -> None:
    c = channel_amazon_cancellation.c

    def set_values(conn: Connection) -> None:
        for part in chunked(ids, IN_LIST):
            conn.execute(update(channel_amazon_cancellation).where(c.id.in_(part))
                         .values(updated_at=utcnow(), **values))

    in_transaction(engine, set_values)
