"""amazon_channel.accounts: the accounts file read at parse time, one problem per wrong entry, and the check of a
declared region and marketplaces against the account's connection."""

from __future__ import annotations

import json

import pytest

from amazon_channel.accounts import (
    Account,
    AccountProblem,
    connection_marketplaces,
    default_account,
    read_accounts,
)
from amazon_channel.errors import NotRetryableError

pytestmark = [pytest.mark.unit]

US, CA, DE, JP = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1PA6795UKMFR9", "A1VC38T7YXB528"


def write(tmp_path, entries, name="accounts.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"accounts": entries}))
    return str(path)


def test_no_file_is_todays_single_account():
    for path in (None, ""):
        accounts, problems = read_accounts(path)
        assert problems == []
        assert accounts == [default_account()]
    account = default_account()
    assert (account.id, account.conn_id, account.pool, account.dag_id, account.schedule) == (
        "default", "amazon_sp_api", "amazon_sp_api", "amazon_orders_sync", "0 * * * *")
    assert account.region is None and account.marketplace_ids is None and account.order_settings is None


def test_the_smallest_declaration_works_as_is(tmp_path):
    accounts, problems = read_accounts(write(tmp_path, [{"id": "us", "conn_id": "amazon_sp_api_us"},
                                                        {"id": "eu", "conn_id": "amazon_sp_api_eu"}]))
    assert problems == []
    assert accounts == [
        Account("us", "amazon_sp_api_us", pool="amazon_sp_api__us", dag_id="amazon_orders_sync__us"),
        Account("eu", "amazon_sp_api_eu", pool="amazon_sp_api__eu", dag_id="amazon_orders_sync__eu")]


def test_a_rich_entry_in_yaml(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""
accounts:
  - id: de-shop
    conn_id: amazon_sp_api_eu
    region: eu
    marketplace_ids: [{DE}]
    schedule: "30 */2 * * *"
    pool: amazon_eu
    order_settings: {{default: {{store_id: 2}}, max_bad_share: 0.1}}
  - id: default
    conn_id: amazon_sp_api
""")
    accounts, problems = read_accounts(str(path))
    assert problems == []
    assert accounts[0] == Account("de-shop", "amazon_sp_api_eu", "eu", (DE,), "30 */2 * * *",
                                  {"default": {"store_id": 2}, "max_bad_share": 0.1}, "amazon_eu",
                                  "amazon_orders_sync__de-shop")
    # An account declared as `default` is an account like the others: its own DAG id and pool.
    assert (accounts[1].dag_id, accounts[1].pool) == ("amazon_orders_sync__default", "amazon_sp_api__default")


@pytest.mark.parametrize(("entry", "words"), [
    pytest.param({"id": "US", "conn_id": "c"}, "'US' is not a valid account id", id="uppercase id"),
    pytest.param({"id": "x" * 33, "conn_id": "c"}, "is not a valid account id", id="id too long"),
    pytest.param({"conn_id": "c"}, "None is not a valid account id", id="no id"),
    pytest.param({"id": "a"}, "conn_id None", id="no conn_id"),
    pytest.param({"id": "a", "conn_id": "c", "region": "moon"}, "region 'moon' is unknown", id="unknown region"),
    pytest.param({"id": "a", "conn_id": "c", "region": "na", "marketplace_ids": [US, DE]},
                 f"marketplace_ids ['{DE}'] are not served by region 'na'", id="marketplace of another region"),
    pytest.param({"id": "a", "conn_id": "c", "marketplace_ids": [US, JP]}, "span the regions ['fe', 'na']",
                 id="marketplaces of two regions"),
    pytest.param({"id": "a", "conn_id": "c", "marketplace_ids": []}, "non-empty list", id="no marketplaces"),
    pytest.param({"id": "a", "conn_id": "c", "schedule": "every hour"}, "schedule 'every hour' is not a cron",
                 id="unparseable schedule"),
    pytest.param({"id": "a", "conn_id": "c", "order_settings": {"default": {"customer_mode": "sometimes"}}},
                 "order_settings: Order Settings", id="bad order settings"),
    pytest.param({"id": "a", "conn_id": "c", "order_settings": "store 2"}, "order_settings must be an object",
                 id="order settings not an object"),
    pytest.param({"id": "a", "conn_id": "c", "pool": "my pool"}, "pool 'my pool'", id="bad pool"),
    pytest.param({"id": "a", "conn_id": "c", "regoin": "na"}, "unknown field(s) ['regoin']", id="typo in a field"),
    pytest.param("us", "must be an object", id="not an object"),
])
def test_a_wrong_entry_is_a_problem_of_that_entry_only(tmp_path, entry, words):
    path = write(tmp_path, [{"id": "good", "conn_id": "amazon_sp_api_good"}, entry])
    accounts, problems = read_accounts(path)
    assert [a.id for a in accounts] == ["good"]
    (problem,) = problems
    assert words in problem.message and "entry 2" in problem.message
    # A usable id keeps its DAG id, so the operator finds the failure where the account's DAG is.
    usable = isinstance(entry, dict) and entry.get("id") == "a"
    assert problem.dag_id == ("amazon_orders_sync__a" if usable else "amazon_orders_sync__entry-2")


def test_a_duplicate_id_is_one_problem_and_no_account(tmp_path):
    path = write(tmp_path, [{"id": "us", "conn_id": "a"}, {"id": "eu", "conn_id": "b"}, {"id": "us", "conn_id": "c"}])
    accounts, problems = read_accounts(path)
    assert [a.id for a in accounts] == ["eu"]
    assert problems == [AccountProblem("us", "account id 'us' is declared more than once (entries 1, 3); give each "
                                             "account its own id")]


@pytest.mark.parametrize(("name", "text", "words"), [
    pytest.param("accounts.json", "{not json", "not valid JSON", id="broken JSON"),
    pytest.param("accounts.yaml", "accounts: [id: a", "not valid YAML", id="broken YAML"),
    pytest.param("accounts.toml", "[accounts]", "must end in .json, .yaml or .yml", id="unknown extension"),
    pytest.param("accounts.json", '{"accounts": []}', "at least one account", id="no accounts"),
    pytest.param("accounts.json", '[{"id": "a", "conn_id": "c"}]', 'expected {"accounts"', id="a bare list"),
])
def test_a_file_that_cannot_be_read_is_one_problem_naming_it(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    accounts, problems = read_accounts(str(path))
    assert accounts == []
    (problem,) = problems
    assert problem.dag_id == "amazon_orders_sync__accounts_file"
    assert str(path) in problem.message and "AMAZON_CHANNEL_ACCOUNTS_FILE" in problem.message
    assert words in problem.message


def test_a_missing_file_is_one_problem(tmp_path):
    accounts, problems = read_accounts(str(tmp_path / "nowhere.json"))
    assert accounts == [] and problems[0].key == "accounts_file" and "No such file" in problems[0].message


def test_declared_marketplaces_narrow_the_connections_and_must_be_served_by_it():
    undeclared = Account("us", "c")
    assert connection_marketplaces(undeclared, "na", [US, CA]) == [US, CA]
    assert connection_marketplaces(undeclared, "na", []) == []
    narrowed = Account("us", "c", "na", (US,))
    assert connection_marketplaces(narrowed, "na", [US, CA]) == [US]
    assert connection_marketplaces(narrowed, "na", []) == [US]  # the connection lists none: the declared ones


@pytest.mark.parametrize(("account", "conn_region", "conn_marketplaces", "words"), [
    pytest.param(Account("us", "c", region="na"), "eu", [DE],
                 "declares region 'na' but the connection is for region 'eu'", id="wrong region"),
    pytest.param(Account("us", "c", marketplace_ids=(US,)), "eu", [],
                 f"declares marketplace_ids ['{US}'], which region 'eu' of the connection does not serve",
                 id="marketplace of the connection's other region"),
    pytest.param(Account("us", "c", marketplace_ids=(US, CA)), "na", [US],
                 f"declares marketplace_ids ['{CA}'], which the connection does not list (it lists ['{US}'])",
                 id="marketplace the connection does not list"),
])
def test_a_declaration_the_connection_does_not_serve_fails_naming_both(account, conn_region, conn_marketplaces,
                                                                         words):
    with pytest.raises(NotRetryableError, match="account 'us' \\(connection 'c'\\)") as raised:
        connection_marketplaces(account, conn_region, conn_marketplaces)
    assert words in str(raised.value)
