"""Validators built from Amazon's official models in ../shared/spapi-models.

Objects are made strict (no properties beyond the model's), so an invented field fails the test too.
"""

from __future__ import annotations

import copy
import json
from functools import cache

from jsonschema import Draft4Validator

from tests.support import MODELS


def _strict(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


@cache
def _definitions(model_file: str) -> dict:
    model = json.loads((MODELS / model_file).read_text())
    return _strict(copy.deepcopy(model["definitions"]))


@cache  # one per definition: building it resolves the model's references again
def validator(model_file: str, definition: str) -> Draft4Validator:
    return Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": _definitions(model_file)})


def assert_valid(model_file: str, definition: str, body) -> None:
    errors = sorted(validator(model_file, definition).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


ORDERS = "orders_2026-01-01.json"
ORDERS_V0 = "ordersV0.json"
FEEDS = "feeds_2021-06-30.json"
