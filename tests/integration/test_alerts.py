"""Failure and data-quality alerts reach a local receiver through Airflow's notifier mechanism, without buyer data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support import run_sync, set_order_settings

pytestmark = [pytest.mark.airflow, pytest.mark.emulator]
W1 = datetime(2026, 3, 9, 3, tzinfo=UTC)




@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_a_failed_run_sends_one_failure_alert(pipeline_env, receiver, emulator):
    set_order_settings(pipeline_env, {"default": {"customer_mode": "sometimes"}})
    assert run_sync(W1).state == "failed"
    assert len(receiver) == 1, receiver  # the failed task alerts; the watcher that mirrors it does not
    alert = receiver[0]["alert"]
    assert alert["kind"] == "failure" and alert["task_id"] == "check_settings"
    assert alert["dag_id"] == "amazon_orders_sync" and "customer_mode" in alert["error"]
    assert receiver[0]["text"].startswith("[Amazon channel] failure: amazon_orders_sync / check_settings")


@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_a_good_run_sends_nothing(pipeline_env, receiver, emulator):
    assert run_sync(W1).state == "success"
    assert receiver == []


def test_data_quality_alert_carries_counts_and_reasons_only(receiver):
    from amazon_channel_alerts import ChannelAlert, redact

    detail = {"checked": 120, "quarantined": 2, "new_in_quarantine": 2, "bad_share": 0.0167,
              "top_reasons": [["orderTotal.amount: expect_column_values_to_match_regex", 2]]}
    ChannelAlert("data_quality", detail)({"run_id": "scheduled__2026-03-09T03:00:00+00:00",
                                          "exception": ValueError("buyer jane.doe@example.com broke it")})
    alert = receiver[0]["alert"]
    assert alert["kind"] == "data_quality" and alert["new_in_quarantine"] == 2 and alert["top_reasons"]
    assert "jane.doe@example.com" not in json.dumps(receiver) and "<email>" in alert["error"]
    assert redact("mail x.y+z@marketplace.amazon.de now") == "mail <email> now"
