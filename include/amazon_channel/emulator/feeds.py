"""Amazon's side of the Feeds API: feed documents behind pre-signed URLs, feeds processed after a delay, and the
order-acknowledgement feed (POST_ORDER_ACKNOWLEDGEMENT_DATA) through which a seller cancels unshipped orders.

A feed is processed once, lazily: every Amazon-facing answer and every admin read first settles the feeds whose
`feed_processing_seconds` (real time) are up, so the world, getFeed and the ground truth always agree.
Per message: a Failure acknowledgement cancels the listed items (all items when none is listed) of an unshipped
merchant order of the feed's marketplace, or is refused with an Error result in the processing report. An order
already cancelled succeeds again without a second record, so a re-sent feed is harmless.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..rules import CANCEL_REASONS
from ..timeutil import from_epoch, iso_z
from .model import CANCELLED, PENDING, UNSHIPPED
from .world import World

ORDER_ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
FEED_TYPES = (ORDER_ACKNOWLEDGEMENT,)  # the only feed type the emulator processes
DOCUMENT_URL_TTL = 300  # a pre-signed URL expires five minutes (emulator clock) after it is handed out
MAX_DOCUMENT_BYTES = 10 * 2**20
REPORT_CONTENT_TYPE = "text/xml; charset=UTF-8"
FIRST_FEED_ID = 50_001_000_000
CANCELLABLE = (UNSHIPPED, PENDING)

# The processing report's ResultMessageCode per refusal (the emulator's numbers, in Amazon's style).
XML_ERROR, NOT_FOUND, SHIPPED_ALREADY, NOT_CANCELLABLE, FBA_ORDER, BAD_REASON, BAD_ITEM, BAD_MESSAGE = (
    5001, 18001, 18028, 18029, 18030, 18031, 18032, 18033)


@dataclass
class FeedDocument:
    document_id: str
    token: str  # the unguessable part of its URL
    content_type: str
    expires: int  # emulator time its URL stops working
    upload: bool  # an input document (PUT to its URL) or a processing report (GET)
    content: bytes | None = None


@dataclass
class Feed:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created: int  # emulator time
    created_real: float  # time.monotonic(), for the processing delay
    status: str = "IN_QUEUE"
    started: int | None = None
    ended: int | None = None
    result_document_id: str | None = None
    messages: int = 0

    def json(self) -> dict:
        """The Feed as getFeed answers it."""
        body: dict = {"feedId": self.feed_id, "feedType": self.feed_type, "marketplaceIds": self.marketplace_ids,
                      "createdTime": iso_z(from_epoch(self.created)), "processingStatus": self.status}
        if self.started is not None:
            body["processingStartTime"] = iso_z(from_epoch(self.started))
        if self.ended is not None:
            body["processingEndTime"] = iso_z(from_epoch(self.ended))
        if self.result_document_id:
            body["resultFeedDocumentId"] = self.result_document_id
        return body


@dataclass
class Result:
    """One message's refusal (ResultCode Error) in the processing report."""

    message_id: str
    code: int
    description: str
    order_id: str | None = None


@dataclass
class FeedStore:
    documents: dict[str, FeedDocument] = field(default_factory=dict)
    by_token: dict[str, FeedDocument] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    cancellations: list[dict] = field(default_factory=list)  # the ground truth of what the seller sent
    first_feed_id: int = FIRST_FEED_ID  # each seller-region numbers its feeds from its own start (`--sellers`)

    def create_document(self, content_type: str, now: int, upload: bool = True,
                        content: bytes | None = None) -> FeedDocument:
        document = FeedDocument(f"amzn1.tortuga.4.na.{secrets.token_hex(16)}", secrets.token_urlsafe(24),
                                content_type, now + DOCUMENT_URL_TTL, upload, content)
        self.documents[document.document_id] = document
        self.by_token[document.token] = document
        return document

    def create_feed(self, feed_type: str, marketplace_ids: list[str], document_id: str, now: int) -> Feed:
        feed = Feed(str(self.first_feed_id + len(self.feeds)), feed_type, marketplace_ids, document_id, now,
                    time.monotonic())
        self.feeds[feed.feed_id] = feed
        return feed

    def settle(self, world: World, now: int, delay: float) -> None:
        for feed in self.feeds.values():
            if feed.status not in ("IN_QUEUE", "IN_PROGRESS"):
                continue
            elapsed = time.monotonic() - feed.created_real
            if elapsed >= delay / 2 and feed.started is None:
                feed.status, feed.started = "IN_PROGRESS", now
            if elapsed >= delay:
                self._process(feed, world, now)

    def _process(self, feed: Feed, world: World, now: int) -> None:
        document = self.documents[feed.input_document_id]
        try:
            messages = _acknowledgements(document.content)
        except ValueError as exc:
            feed.status = "FATAL"
            results = [Result("0", XML_ERROR, str(exc))]
        else:
            feed.status = "DONE"
            feed.messages = len(messages)
            results = self._apply(feed, messages, world, now)
        feed.ended = now
        report = _report(feed, results)
        feed.result_document_id = self.create_document(REPORT_CONTENT_TYPE, now, False, report).document_id

    def _apply(self, feed: Feed, messages: list[dict], world: World, now: int) -> list[Result]:
        results, seen = [], set()
        for message in messages:
            message_id, order_id = message["message_id"], message["order_id"]
            if not message_id.isdigit() or message_id in seen:
                results.append(Result(message_id, BAD_MESSAGE, "MessageID must be a unique positive integer",
                                      order_id))
                continue
            seen.add(message_id)
            if message["status_code"] == "Success":
                continue  # an acknowledgement that the seller accepts the order: nothing to do
            refusal, item_ids = _cancellation(feed, message, world, now)
            if refusal is None and not item_ids:
                continue  # already cancelled: success, and no second cancellation
            if refusal is None:
                reasons = dict(message["items"])
                world.cancel_items(world.by_id[order_id], {i: reasons.get(i) for i in item_ids}, now)
            else:
                results.append(Result(message_id, refusal[0], refusal[1], order_id))
            self.cancellations.append({
                "orderId": order_id, "feedId": feed.feed_id, "messageId": message_id, "reason": message["reason"],
                "items": item_ids or [item_id for item_id, _ in message["items"]],
                "result": "applied" if refusal is None else "refused",
                "message": "The order was cancelled." if refusal is None else refusal[1],
                "receivedAt": iso_z(from_epoch(feed.created))})
        return results


def _acknowledgements(content: bytes | None) -> list[dict]:
    """The feed's messages as {message_id, order_id, status_code, reason, items: [(item id, reason)]};
    ValueError (the feed is FATAL) when the document is missing or not an order-acknowledgement envelope."""
    if not content:
        raise ValueError("The feed document is empty: nothing was uploaded to its URL before createFeed")
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise ValueError(f"XML Parsing Fatal Error: {exc}") from None
    if root.tag != "AmazonEnvelope":
        raise ValueError(f"The root element must be AmazonEnvelope, not {root.tag}")
    if (root.findtext("MessageType") or "").strip() != "OrderAcknowledgement":
        raise ValueError("MessageType must be OrderAcknowledgement for POST_ORDER_ACKNOWLEDGEMENT_DATA")
    messages = []
    for message in root.findall("Message"):
        ack = message.find("OrderAcknowledgement")
        if ack is None:
            raise ValueError("Every Message must hold an OrderAcknowledgement")
        items = [((item.findtext("AmazonOrderItemCode") or "").strip(), (item.findtext("CancelReason") or "").strip())
                 for item in ack.findall("Item")]
        reasons = {reason for _, reason in items}
        messages.append({"message_id": (message.findtext("MessageID") or "").strip(),
                         "order_id": (ack.findtext("AmazonOrderID") or "").strip(),
                         "status_code": (ack.findtext("StatusCode") or "").strip(),
                         "reason": items[0][1] if len(reasons) == 1 and items[0][1] else None, "items": items})
    if not messages:
        raise ValueError("The envelope holds no Message")
    return messages


def _cancellation(feed: Feed, message: dict, world: World,
                  now: int) -> tuple[tuple[int, str] | None, list[str]]:
    """(refusal as (code, description) or None, the items to cancel now) for one Failure acknowledgement."""
    order_id = message["order_id"]
    if message["status_code"] != "Failure":
        return (BAD_MESSAGE, f"StatusCode must be Success or Failure, not {message['status_code']!r}"), []
    idx = world.by_id.get(order_id)
    status = world.status(idx, now) if idx is not None else None
    if status is None or world.records[idx].marketplace.marketplace_id not in feed.marketplace_ids:
        return (NOT_FOUND, f"Order {order_id} was not found in the feed's marketplace"), []
    if world.records[idx].fba:
        return (FBA_ORDER, "The order is fulfilled by Amazon and cannot be cancelled by the seller"), []
    item_ids = [item["orderItemId"] for item in world.details(idx)["items"]]
    for item_id, reason in message["items"]:
        if item_id not in item_ids:
            return (BAD_ITEM, f"AmazonOrderItemCode {item_id} is not an item of order {order_id}"), []
        if reason not in CANCEL_REASONS:
            return (BAD_REASON, f"CancelReason {reason!r} is not valid; valid values: "
                                f"{', '.join(CANCEL_REASONS)}"), []
    if status == CANCELLED:
        return None, []
    if status not in CANCELLABLE:
        if status in ("SHIPPED", "PARTIALLY_SHIPPED"):
            return (SHIPPED_ALREADY, "The order cannot be cancelled: it has been shipped."), []
        return (NOT_CANCELLABLE, f"The order cannot be cancelled in status {status}."), []
    wanted = [item_id for item_id, _ in message["items"]] or item_ids
    state = world.states.get(idx)
    already = state.cancelled if state else {}
    return None, [item_id for item_id in dict.fromkeys(wanted) if item_id not in already]


def _report(feed: Feed, results: list[Result]) -> bytes:
    """The processing report (XML) a feed's resultFeedDocumentId leads to."""
    root = ET.Element("AmazonEnvelope", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                         "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd"})
    header = ET.SubElement(root, "Header")
    ET.SubElement(header, "DocumentVersion").text = "1.02"
    ET.SubElement(header, "MerchantIdentifier").text = "SELLER"
    ET.SubElement(root, "MessageType").text = "ProcessingReport"
    message = ET.SubElement(root, "Message")
    ET.SubElement(message, "MessageID").text = "1"
    report = ET.SubElement(message, "ProcessingReport")
    ET.SubElement(report, "DocumentTransactionID").text = feed.feed_id
    ET.SubElement(report, "StatusCode").text = "Complete"
    summary = ET.SubElement(report, "ProcessingSummary")
    failed = len({r.message_id for r in results}) if feed.status == "DONE" else feed.messages
    for name, value in (("MessagesProcessed", feed.messages), ("MessagesSuccessful", feed.messages - failed),
                        ("MessagesWithError", failed), ("MessagesWithWarning", 0)):
        ET.SubElement(summary, name).text = str(value)
    for result in results:
        node = ET.SubElement(report, "Result")
        ET.SubElement(node, "MessageID").text = result.message_id
        ET.SubElement(node, "ResultCode").text = "Error"
        ET.SubElement(node, "ResultMessageCode").text = str(result.code)
        ET.SubElement(node, "ResultDescription").text = result.description
        if result.order_id:
            ET.SubElement(ET.SubElement(node, "AdditionalInfo"), "AmazonOrderID").text = result.order_id
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode()
