"""The validator the contract tests rely on fails where Amazon's models say a body is wrong."""

from __future__ import annotations

import copy

import pytest

from tests.integration.spapi_models import ORDERS, assert_valid

pytestmark = [pytest.mark.unit]

ERRORS = {"errors": [{"code": "InvalidInput", "message": "a message"}]}


def test_a_valid_body_passes():
    assert_valid(ORDERS, "ErrorList", ERRORS)


@pytest.mark.parametrize(("change", "complaint"), [
    # strict: no field beyond the model
    (lambda body: body["errors"][0].update(invented="x"), r"data\.errors\[0\] must not contain \{'invented'\}"),
    (lambda body: body["errors"][0].pop("code"), r"data\.errors\[0\] must contain \['code'\]"),  # a required field
    (lambda body: body["errors"][0].update(message=7), r"data\.errors\[0\]\.message must be string"),
    (lambda body: body.update(errors="none"), r"data\.errors must be array"),
])
def test_a_body_breaking_the_model_fails_with_its_path(change, complaint):
    body = copy.deepcopy(ERRORS)
    change(body)
    with pytest.raises(AssertionError, match=r"^ErrorList: " + complaint):
        assert_valid(ORDERS, "ErrorList", body)


def test_a_malformed_date_time_fails():
    with pytest.raises(AssertionError, match="date-time"):
        assert_valid(ORDERS, "SearchOrdersResponse", {"orders": [], "lastUpdatedBefore": "yesterday"})
