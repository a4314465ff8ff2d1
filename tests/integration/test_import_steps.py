"""The import steps the DAG's tasks call, run against the emulator and each database: bad input, failures,
settings, newer-wins, quarantine, and a day of hourly intervals (the backfill)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from amazon_channel.commerce.schema import channel_amazon_quarantine, customer_entity
from amazon_channel.erp_export import export_orders_since_mark
from amazon_channel.settings import parse_settings
from amazon_channel.staging import Staging
from amazon_channel.steps import load_orders_step, transform_step, validate_step
from amazon_channel.timeutil import parse_iso
from tests.integration.commerce_queries import channel_orders, commerce_orders, imported, should_have_commerce_order
from tests.integration.pipeline_steps import DEFAULT, Steps, amazon_orders
from tests.support import table_checksums

pytestmark = [pytest.mark.emulator]


def test_a_day_of_hourly_runs_imports_every_order_once(steps, emulator):
    """The backfill of a past day, as the sequence of its 24 interval runs with the DAG's overlap."""
    day = datetime(2026, 3, 8, tzinfo=UTC)
    for hour in range(24):
        start = day + timedelta(hours=hour)
        run_id = f"backfill__{start.isoformat()}"
        steps.extract(run_id, start - timedelta(minutes=15), start + timedelta(hours=1))
        steps.after_extract(run_id)
    truth = emulator.truth("2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z")
    channel, sales = channel_orders(steps.engine), commerce_orders(steps.engine)
    assert len(truth) > 400
    for order in truth:
        assert (order["orderId"] in channel) == imported(order), "an order of the day is missing"
        state = should_have_commerce_order(order["status"], order["fulfilledBy"])
        assert (sales.get(order["orderId"]) or {}).get("state") == state
    with steps.engine.connect() as conn:
        customers = conn.execute(select(customer_entity)).all()
    assert customers == []  # default settings: guest orders


def test_bad_input_is_quarantined_with_reasons_and_nothing_is_lost(steps, client):
    good = amazon_orders(client)
    priced = [o for o in good if o.get("proceeds")]
    bad = copy.deepcopy(priced[:13])
    bad[0]["orderId"] = "12-3456"                                    # bad id
    del bad[1]["createdTime"]                                         # missing field
    bad[2]["proceeds"]["grandTotal"]["amount"] = "-10.00"              # negative amount
    bad[3]["proceeds"]["grandTotal"]["amount"] = "ten"                 # non-numeric amount
    bad[4]["proceeds"]["grandTotal"]["currencyCode"] = "XYZ"           # unknown currency
    bad[5]["orderItems"][0]["quantityOrdered"] = 0                     # not a positive quantity
    bad[6]["buyer"] = {"buyerName": "x" * 300}                         # oversized string
    bad[7]["orderItems"] = "not a list"                                # broken structure
    bad[8]["proceeds"]["grandTotal"] = {"amount": "12.345", "currencyCode": "USD"}  # too many decimals
    bad[9]["salesChannel"]["marketplaceId"] = "NOT-A-MARKETPLACE"
    bad[10]["orderItems"].append(copy.deepcopy(bad[10]["orderItems"][0]))  # duplicate item id
    bad[11]["lastUpdatedTime"] = "2026-03-09 10:00"                   # not ISO 8601 UTC
    bad[12]["fulfillment"]["deliverByWindow"]["latestDateTime"] = "2026-03-32T10:00:00Z"  # no such day
    tricky = copy.deepcopy(priced[13])
    tricky["buyer"] = {"buyerName": "Robert'); DROP TABLE sales_order;-- 山田", "buyerEmail": "a'b\"c@x.invalid"}
    tricky["recipient"]["deliveryAddress"]["name"] = "Ωμέγα 🎁 O'Brien"
    duplicate = copy.deepcopy(good[0])
    batch = good + bad + [tricky, duplicate, None, "garbage"]
    steps.stage("bad-input", batch)
    validated, loaded = steps.after_extract("bad-input", parse_settings({"max_bad_share": 0.5}))

    channel = channel_orders(steps.engine)
    with steps.engine.connect() as conn:
        quarantine = conn.execute(select(channel_amazon_quarantine)).mappings().all()
    assert validated["quarantined"] == len(quarantine) == len(bad) + 2
    for row in quarantine:
        assert json.loads(row["reasons"]) and row["payload"]
    quarantined_ids = {row["amazon_order_id"] for row in quarantine}
    waiting_fba = {o["orderId"] for o in good if o["fulfillment"]["fulfilledBy"] == "AMAZON"
                   and o["fulfillment"]["fulfillmentStatus"] != "SHIPPED"}
    good_ids = {o["orderId"] for o in good} | {tricky["orderId"]}
    assert good_ids - quarantined_ids - waiting_fba <= set(channel)  # every row is loaded or quarantined
    assert loaded["fba_orders_not_shipped_yet"] == len(waiting_fba)  # held back, not lost: they return once shipped
    assert channel[tricky["orderId"]]["buyer_name"] == "Robert'); DROP TABLE sales_order;-- 山田"
    assert channel[tricky["orderId"]]["ship_name"] == "Ωμέγα 🎁 O'Brien"
    reasons = {r for row in quarantine for r in json.loads(row["reasons"])}
    assert {"order_id: expect_column_values_to_match_regex", "currency: expect_column_values_to_be_in_set",
            "buyer_name: expect_column_value_lengths_to_be_between"} <= reasons
    assert [json.loads(row["reasons"]) for row in quarantine if row["amazon_order_id"] == bad[12]["orderId"]] == [
        ["times_parse: expect_column_values_to_be_in_set"]]
    assert commerce_orders(steps.engine)  # the good rows went on


def test_too_much_bad_input_fails_loudly_but_keeps_it(steps, client):
    orders = copy.deepcopy(amazon_orders(client)[:10])
    for order in orders[:5]:
        order["salesChannel"]["marketplaceId"] = "UNKNOWN"
    steps.stage("mostly-bad", orders)
    with pytest.raises(ValueError, match="5 of 10 orders .* failed validation"):
        steps.after_extract("mostly-bad")
    with steps.engine.connect() as conn:
        assert len(conn.execute(select(channel_amazon_quarantine)).all()) == 5


def test_quarantine_is_reexamined_when_the_cause_is_fixed(steps, client):
    orders = copy.deepcopy(amazon_orders(client)[:20])
    orders[0]["salesChannel"]["marketplaceId"] = "A2NEWMARKET"
    steps.stage("run-1", orders)
    steps.after_extract("run-1")
    assert orders[0]["orderId"] not in channel_orders(steps.engine)
    steps.stage("run-2", [])  # a later run: nothing new from Amazon, but the marketplace is now configured
    validated, _ = steps.after_extract("run-2", parse_settings({"extra_marketplace_ids": ["A2NEWMARKET"]}))
    assert validated["released_from_quarantine"] == 1
    assert orders[0]["orderId"] in channel_orders(steps.engine)
    with steps.engine.connect() as conn:
        row = conn.execute(select(channel_amazon_quarantine)).mappings().one()
    assert row["resolved"] and "run-2" in row["resolution"]


def test_a_failure_mid_load_leaves_nothing_behind_and_a_rerun_completes(steps, client, commerce_url, tmp_path):
    orders = amazon_orders(client)
    steps.stage("run", orders)
    before = table_checksums(steps.engine)
    broken = parse_settings({"default": {"customer_mode": "predefined", "predefined_customer_id": 999}})
    transformed, run = None, steps.run("run")
    with pytest.raises(IntegrityError):  # the foreign key to a missing customer fails inside the load
        validated = validate_step(steps.engine, run, run.path("extract"), broken)
        transformed = transform_step(run, validated["staging_path"])
        load_orders_step(steps.engine, run, transformed["staging_path"], broken)
    assert transformed is not None
    assert {k: v for k, v in table_checksums(steps.engine).items() if k != "channel_amazon_quarantine"} == {
        k: v for k, v in before.items() if k != "channel_amazon_quarantine"}
    load_orders_step(steps.engine, run, transformed["staging_path"], DEFAULT)  # the retried task
    retried = table_checksums(steps.engine, surrogate_keys=False)
    load_orders_step(steps.engine, run, transformed["staging_path"], DEFAULT)  # and once more
    assert table_checksums(steps.engine, surrogate_keys=False) == retried

    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.commerce.schema import metadata
    from amazon_channel.tools.demo import seed_catalog

    clean = Steps(steps.engine, Staging(f"file://{tmp_path}/clean"), client)
    metadata.drop_all(steps.engine)
    seed_catalog(steps.engine)
    clean.stage("run", orders)
    clean.after_extract("run")
    assert table_checksums(commerce_engine(commerce_url), surrogate_keys=False) == retried


def test_newer_amazon_data_is_never_overwritten_by_older(steps, client, emulator):
    emulator.advance(300)
    pending = next(o for o in amazon_orders(client, "2026-03-10T11:30:00Z", "2026-03-10T12:00:00Z")
                   if o["fulfillment"]["fulfillmentStatus"] == "PENDING"
                   and o["fulfillment"]["fulfilledBy"] == "MERCHANT")
    emulator.advance(3 * 3600)
    newer = client.get_order(pending["orderId"])
    assert newer["lastUpdatedTime"] > pending["lastUpdatedTime"]
    steps.stage("newer", [newer])
    steps.after_extract("newer")
    after_newer = table_checksums(steps.engine)
    steps.stage("older", [pending])
    steps.after_extract("older")
    assert table_checksums(steps.engine) == after_newer
    assert channel_orders(steps.engine)[pending["orderId"]]["status"] != "Pending"


def test_order_settings_customers_numbers_and_fba(steps, client):
    orders = amazon_orders(client)
    us, de = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
    settings = parse_settings({
        "default": {"customer_mode": "create", "new_order_status": "amazon_new"},
        "marketplaces": {de: {"order_number": "amazon", "order_number_prefix": "DE-", "fba_create_order": False},
                         "A1F83G8C2ARO7P": {"import_enabled": False}}})
    steps.stage("settings", orders)
    steps.after_extract("settings", settings)
    channel, sales = channel_orders(steps.engine), commerce_orders(steps.engine)
    with steps.engine.connect() as conn:
        customers = {(r.email, r.website_id): r.entity_id for r in conn.execute(select(customer_entity))}
    for order_id, order in sales.items():
        row = channel[order_id]
        assert row["marketplace_id"] != "A1F83G8C2ARO7P"  # import disabled: channel only
        if row["marketplace_id"] == de:
            assert row["fulfillment_channel"] == "MFN" and order["increment_id"] == f"DE-{order_id}"
        else:
            assert order["increment_id"].isdigit() and len(order["increment_id"]) == 9
        if row["fulfillment_channel"] == "MFN":
            assert order["status"] == "amazon_new" and order["customer_id"] == customers[(row["buyer_email"], 1)]
        else:  # FBA: Amazon shares no email, so a guest order with a marked placeholder
            assert order["customer_is_guest"] and order["customer_email"].endswith("@buyer.amazon.invalid")
    assert any(v["marketplace_id"] == us for v in channel.values())
    # Amazon's delivery promise (the buyer-data retention clock) is kept for merchant and FBA orders alike.
    stored = [(channel[o["orderId"]], o["fulfillment"]) for o in orders if o["orderId"] in channel]
    assert {row["fulfillment_channel"] for row, _ in stored} == {"MFN", "AFN"}
    for row, fulfillment in stored:
        assert row["deliver_by"] == parse_iso(fulfillment["deliverByWindow"]["latestDateTime"])
    assert len(customers) == len({(v["buyer_email"]) for k, v in channel.items() if k in sales and v["buyer_email"]})


def test_erp_export_writes_new_orders_once(steps, client):
    steps.stage("erp", amazon_orders(client))
    steps.after_extract("erp")
    first = export_orders_since_mark(steps.engine, steps.staging)
    assert first["exported"] == len(commerce_orders(steps.engine)) > 0
    assert export_orders_since_mark(steps.engine, steps.staging)["exported"] == 0


def test_an_hour_without_orders_runs_cleanly(steps, client):
    steps.stage("busy", amazon_orders(client))
    steps.after_extract("busy")
    before = table_checksums(steps.engine)
    steps.stage("quiet", [])
    validated, loaded = steps.after_extract("quiet")
    assert validated["checked"] == 0 and loaded["channel_orders_upserted"] == 0
    assert table_checksums(steps.engine) == before


def test_orders_already_loaded_at_this_version_are_skipped_on_a_rerun(steps, client):
    orders = amazon_orders(client)
    steps.stage("first", orders)
    first, _ = steps.after_extract("first")
    assert first["unchanged_skipped"] == 0 and first["checked"] == len(orders)
    before = table_checksums(steps.engine)
    steps.stage("again", orders)
    again, loaded = steps.after_extract("again")
    stored = sum(1 for o in orders if o["orderId"] in channel_orders(steps.engine))
    assert again["unchanged_skipped"] == stored and again["checked"] == len(orders) - stored
    # Only FBA orders not shipped yet come back (they are never stored until Amazon ships them).
    assert loaded["channel_orders_upserted"] == 0 and loaded["fba_orders_not_shipped_yet"] == len(orders) - stored
    assert table_checksums(steps.engine) == before
