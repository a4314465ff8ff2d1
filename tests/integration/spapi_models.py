"""Validators built from Amazon's official models in ../shared/spapi-models.

Objects are made strict (no properties beyond the model's), so an invented field fails the test too. The models
are compiled to Python once per definition (fastjsonschema, JSON Schema draft 4 as Amazon's models are): the
contract tests check thousands of orders, some 25 times faster than an interpreting validator would.
"""

from __future__ import annotations

import copy
import json
from functools import cache

import fastjsonschema

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


@cache  # one per definition
def validator(model_file: str, definition: str):
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "$ref": f"#/definitions/{definition}",
              "definitions": _definitions(model_file)}
    # use_default=False: validating must never fill in the model's defaults, the body is checked as sent.
    # "double" (Amazon's models use it for coordinates) is not a JSON Schema format and fastjsonschema refuses to
    # compile a format it does not know; the field's type (number) is still checked.
    return fastjsonschema.compile(schema, use_default=False, formats={"double": lambda value: True})


def assert_valid(model_file: str, definition: str, body) -> None:
    try:
        validator(model_file, definition)(body)
    except fastjsonschema.JsonSchemaValueException as error:
        raise AssertionError(f"{definition}: {error.message}") from None


ORDERS = "orders_2026-01-01.json"
ORDERS_V0 = "ordersV0.json"
FEEDS = "feeds_2021-06-30.json"
