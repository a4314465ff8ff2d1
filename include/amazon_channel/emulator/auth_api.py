"""Login with Amazon (LWA): `POST /auth/o2/token` trades the refresh token for an access token.

One LWA for every region, as Amazon's: the refresh token says which seller and region the access token is for.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .state import EmulatorDep

router = APIRouter()


@router.post("/auth/o2/token")
async def lwa_token(request: Request, emulator: EmulatorDep):
    form = await request.form()
    cfg = emulator.config
    if form.get("grant_type") != "refresh_token":
        return JSONResponse({"error": "unsupported_grant_type",
                             "error_description": "The authorization grant type is not supported"}, 400)
    if form.get("client_id") != cfg.client_id or form.get("client_secret") != cfg.client_secret:
        return JSONResponse({"error": "invalid_client",
                             "error_description": "Client authentication failed"}, 401)
    seller = emulator.by_refresh_token.get(form.get("refresh_token") or "")
    if seller is None:
        return JSONResponse({"error": "invalid_grant",
                             "error_description": "The request has an invalid grant parameter : refresh_token"}, 400)
    token = "Atza|" + secrets.token_urlsafe(32)
    emulator.access_tokens[token] = (time.monotonic() + cfg.access_token_ttl, seller)
    return {"access_token": token, "token_type": "bearer", "expires_in": cfg.access_token_ttl,
            "refresh_token": seller.refresh_token}
