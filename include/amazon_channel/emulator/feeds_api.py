"""Feeds API 2021-06-30: createFeedDocument, createFeed, getFeed, getFeedDocument, and the pre-signed document
URLs (`/_emulator/feed-documents/{token}`, standing in for Amazon's S3) that the seller uploads to and downloads
the processing report from. feeds.py holds the feeds and processes them.

The pre-signed URLs behave as S3's do: no SP-API access token (an unsigned x-amz-* header is refused), the
Content-Type declared to createFeedDocument, a five-minute expiry, errors as S3's XML.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .feeds import DOCUMENT_URL_TTL, FEED_TYPES, MAX_DOCUMENT_BYTES, FeedDocument
from .gateway import DENIED, amazon_call
from .http import ApiError
from .state import Emulator, EmulatorDep, SellerRegion

router = APIRouter()  # Amazon's Feeds API (on each region's prefix with --sellers)
documents_router = APIRouter()  # the pre-signed URLs: one "S3" for every region
DOCUMENT_PATH = "/_emulator/feed-documents/"


async def _json_body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None


def _document_json(request: Request, document: FeedDocument) -> dict:
    return {"feedDocumentId": document.document_id,
            "url": f"{str(request.base_url).rstrip('/')}{DOCUMENT_PATH}{document.token}"}


def _owned(emulator: Emulator, seller: SellerRegion, kind: str, key: str):
    """The seller-region's feed or feed document `key`: 403 when it is another seller-region's, 404 when none."""
    for owner in emulator.seller_regions:
        found = getattr(owner.feeds, kind).get(key)
        if found is not None:
            if owner is not seller:
                raise ApiError(403, "Unauthorized", DENIED)
            return found
    return None


def create_feed_document(emulator: Emulator, seller: SellerRegion, request: Request, body: object) -> dict:
    content_type = body.get("contentType") if isinstance(body, dict) else None
    if not isinstance(content_type, str) or not content_type.strip():
        raise ApiError(400, "InvalidInput", "contentType is required")
    return _document_json(request, seller.feeds.create_document(content_type, emulator.now()))


def create_feed(emulator: Emulator, seller: SellerRegion, body: object) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidInput", "The request body must be a JSON object")
    feed_type, marketplace_ids, document_id = (body.get("feedType"), body.get("marketplaceIds"),
                                               body.get("inputFeedDocumentId"))
    if feed_type not in FEED_TYPES:
        raise ApiError(400, "InvalidInput", f"Invalid feedType {feed_type!r}; the emulator processes "
                                            f"{', '.join(FEED_TYPES)}")
    if not isinstance(marketplace_ids, list) or not 1 <= len(marketplace_ids) <= 25:
        raise ApiError(400, "InvalidInput", "marketplaceIds must list 1 to 25 marketplace identifiers")
    unknown = [m for m in marketplace_ids if m not in seller.accepts]  # unknown, or another region's
    if unknown:
        raise ApiError(400, "InvalidInput", f"Invalid marketplaceIds {unknown}")
    document = seller.feeds.documents.get(document_id) if isinstance(document_id, str) else None
    if document is None or not document.upload:
        raise ApiError(400, "InvalidInput", f"Invalid inputFeedDocumentId {document_id!r}")
    feed = seller.feeds.create_feed(feed_type, list(marketplace_ids), document_id, emulator.now())
    return {"feedId": feed.feed_id}


def get_feed(emulator: Emulator, seller: SellerRegion, feed_id: str) -> dict:
    feed = _owned(emulator, seller, "feeds", feed_id)
    if feed is None:
        raise ApiError(404, "NotFound", f"Feed {feed_id} was not found")
    return feed.json()


def get_feed_document(emulator: Emulator, seller: SellerRegion, request: Request, document_id: str) -> dict:
    document = _owned(emulator, seller, "documents", document_id)
    if document is None:
        raise ApiError(404, "NotFound", f"Feed document {document_id} was not found")
    document.expires = max(document.expires, emulator.now() + DOCUMENT_URL_TTL)  # each answer signs a fresh URL
    return _document_json(request, document)


@router.post("/feeds/2021-06-30/documents")
async def create_feed_document_route(request: Request, emulator: EmulatorDep):
    body = await _json_body(request)
    return await amazon_call(emulator, request, "createFeedDocument",
                             lambda seller: create_feed_document(emulator, seller, request, body), status=201)


@router.post("/feeds/2021-06-30/feeds")
async def create_feed_route(request: Request, emulator: EmulatorDep):
    body = await _json_body(request)
    return await amazon_call(emulator, request, "createFeed", lambda seller: create_feed(emulator, seller, body),
                             status=202)


@router.get("/feeds/2021-06-30/feeds/{feed_id}")
async def get_feed_route(request: Request, feed_id: str, emulator: EmulatorDep):
    return await amazon_call(emulator, request, "getFeed", lambda seller: get_feed(emulator, seller, feed_id))


@router.get("/feeds/2021-06-30/documents/{document_id}")
async def get_feed_document_route(request: Request, document_id: str, emulator: EmulatorDep):
    return await amazon_call(emulator, request, "getFeedDocument",
                             lambda seller: get_feed_document(emulator, seller, request, document_id))


# ---- the pre-signed URLs (S3's part) ------------------------------------------------------------------

def _s3_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")


def _presigned(emulator: Emulator, request: Request, token: str, upload: bool) -> FeedDocument | Response:
    """The document behind a pre-signed URL, or S3's refusal."""
    document = next((d for sr in emulator.seller_regions if (d := sr.feeds.by_token.get(token))), None)
    if document is None or (upload and not document.upload):  # a processing report is read-only
        return _s3_error(403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not match the signature you provided.")
    if emulator.now() > document.expires:
        return _s3_error(403, "AccessDenied", "Request has expired")
    unsigned = sorted(h for h in request.headers if h.lower().startswith("x-amz-"))
    if unsigned:
        return _s3_error(403, "AccessDenied",
                         f"There were headers present in the request which were not signed: {', '.join(unsigned)}")
    return document


def _normalised(content_type: str | None) -> str:
    return "".join((content_type or "").split()).lower()


@documents_router.put(DOCUMENT_PATH + "{token}")
async def upload_document(request: Request, token: str, emulator: EmulatorDep):
    document = _presigned(emulator, request, token, upload=True)
    if isinstance(document, Response):
        return document
    if _normalised(request.headers.get("content-type")) != _normalised(document.content_type):
        return _s3_error(403, "SignatureDoesNotMatch", "The Content-Type is not the one the URL was signed for "
                                                       f"({document.content_type})")
    content = await request.body()
    if len(content) > MAX_DOCUMENT_BYTES:
        return _s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    document.content = content
    return Response(status_code=200)


@documents_router.get(DOCUMENT_PATH + "{token}")
async def download_document(request: Request, token: str, emulator: EmulatorDep):
    emulator.settle()
    document = _presigned(emulator, request, token, upload=False)
    if isinstance(document, Response):
        return document
    return Response(document.content or b"", media_type=document.content_type)
