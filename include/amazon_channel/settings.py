"""Order Settings per Amazon marketplace, as in the Amazon Sales Channel (workflow.md, "Order Settings").

One place: the Airflow Variable `amazon_channel_order_settings` holds them as JSON, editable in the UI (Admin >
Variables) without a code change; without it the defaults below apply. They are validated when a run starts
(task `check_settings`), so a typo fails the run with a message naming the field instead of mis-importing.

    {
      "default": {"store_id": 1, "customer_mode": "guest"},
      "marketplaces": {
        "A1PA6795UKMFR9": {"store_id": 3, "customer_mode": "create", "order_number": "amazon",
                           "order_number_prefix": "DE-", "fba_create_order": false}
      },
      "max_bad_share": 0.2
    }

A marketplace entry overrides the default field by field.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import NotRetryableError, describe_invalid

VARIABLE_NAME = "amazon_channel_order_settings"


class MarketplaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_enabled: bool = True  # disabled: orders listed in the channel tables, read-only, no Commerce order
    store_id: int = Field(1, ge=0)
    customer_mode: Literal["guest", "create", "predefined"] = "guest"
    predefined_customer_id: int | None = None
    order_number: Literal["sequence", "amazon"] = "sequence"
    order_number_prefix: str = Field("", max_length=20)
    fba_order_number_prefix: str = Field("", max_length=20)
    new_order_status: str = Field("processing", min_length=1, max_length=32)
    fba_create_order: bool = True
    reserve_pending_stock: bool = False

    @model_validator(mode="after")
    def _predefined_needs_a_customer(self):
        if self.customer_mode == "predefined" and self.predefined_customer_id is None:
            raise ValueError("customer_mode 'predefined' needs predefined_customer_id")
        return self


class OrderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: MarketplaceSettings = MarketplaceSettings()
    marketplaces: dict[str, dict] = {}
    max_bad_share: float = Field(0.2, ge=0, le=1)  # validation fails the run above this share of bad orders
    extra_marketplace_ids: list[str] = []  # marketplaces accepted besides Amazon's known ones

    @model_validator(mode="after")
    def _check_overrides(self):
        for marketplace_id in self.marketplaces:
            self.for_marketplace(marketplace_id)
        return self

    def for_marketplace(self, marketplace_id: str) -> MarketplaceSettings:
        override = self.marketplaces.get(marketplace_id, {})
        try:
            return MarketplaceSettings(**{**self.default.model_dump(), **override})
        except ValidationError as exc:
            raise NotRetryableError(f"marketplaces.{marketplace_id}: {describe_invalid(exc)}") from None


def parse_settings(raw: str | dict | None) -> OrderSettings:
    """Settings from the Variable's JSON (or a dict); None means defaults. Raises NotRetryableError (a ValueError)
    with a clear message."""
    if raw in (None, ""):
        return OrderSettings()
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise NotRetryableError(f"Order Settings ({VARIABLE_NAME}) are not valid JSON: {exc}") from None
    try:
        return OrderSettings(**data)
    except ValidationError as exc:
        raise NotRetryableError(f"Order Settings ({VARIABLE_NAME}) are invalid: {describe_invalid(exc)}") from None
    except TypeError:
        raise NotRetryableError(f"Order Settings ({VARIABLE_NAME}) must be a JSON object") from None
