"""The Amazon Orders view on a real Airflow api-server: behind Airflow's login, and driven in headless Chromium.

The browser is Debian's `chromium`, driven by Playwright's Python client with `executable_path` (it never
downloads a browser of its own). Screenshots go to build/screenshots/ (AMAZON_CHANNEL_SCREENSHOTS overrides).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests

from amazon_channel.orders_view import HIDDEN
from tests.support import ROOT, empty_commerce_db, emulator_client, free_port

pytestmark = [pytest.mark.airflow, pytest.mark.emulator]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a root user on a machine without a screen or outside network (no background calls to Google).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("AMAZON_CHANNEL_SCREENSHOTS", ROOT / "build" / "screenshots"))
USER, PASSWORD = "ops", "ui-test-password"
# Logins of each role that matters for buyer data (SimpleAuthManager roles): name -> (role, password)
LOGINS = {USER: ("admin", PASSWORD), "oper": ("op", "op-password"), "watcher": ("viewer", "viewer-password")}
SENSITIVE_NAMES = "buyer_name"  # as make run, make cluster and the compose stack set it (test_docker_compose)


class UiServer:
    def __init__(self, base_url: str, data: dict, engine, log: Path):
        self.base_url, self.data, self.engine, self.log = base_url, data, engine, log

    def token(self, user: str = USER) -> str:
        response = requests.post(f"{self.base_url}/auth/token", json={"username": user, "password": LOGINS[user][1]},
                                 timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]


@pytest.fixture(scope="session")
def ui(request, emulator_process, airflow_db, tmp_path_factory):
    """An api-server with our plugins, on a SQLite Commerce DB that the real pipeline steps filled. One per test
    process: work stealing may hand this module's tests to a process in several turns."""
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.staging import Staging
    from tests.integration.pipeline_steps import Steps
    from tests.integration.ui_data import populate

    emulator_process.reset()
    folder = tmp_path_factory.mktemp("ui")
    url = empty_commerce_db(request, "sqlite", folder)
    engine = commerce_engine(url)
    data = populate(Steps(engine, Staging(f"file://{folder}/staging"), emulator_client(emulator_process)),
                    emulator_process)
    emulator_process.reset()  # the other tests of this process start from the emulator's start state

    (folder / "passwords.json").write_text(json.dumps({user: password for user, (_, password) in LOGINS.items()}))
    port = free_port()
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, (role, _) in LOGINS.items()),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(folder / "passwords.json"),
           "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_NAMES,
           "AIRFLOW_CONN_COMMERCE_DB": json.dumps({"conn_type": "generic", "extra": {"url": url}})}
    log = open(folder / "api-server.log", "w")  # noqa: SIM115 (closed below)
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.Popen([str(airflow), "api-server", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"{base}/api/v2/monitor/health", timeout=5).ok:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"api-server did not start: {(folder / 'api-server.log').read_text()[-3000:]}")
        time.sleep(1)
    yield UiServer(base, data, engine, folder / "api-server.log")
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    engine.dispose()


def test_the_view_is_behind_airflows_login(ui):
    order = ui.data["shipped"]
    for path in ("/amazon-orders/", "/amazon-orders/api/orders", f"/amazon-orders/orders/{order}",
                 "/amazon-orders/health", "/amazon-orders/problems"):
        anonymous = requests.get(ui.base_url + path, timeout=30)
        assert anonymous.status_code == 401, path
        assert order not in anonymous.text
        forged = requests.get(ui.base_url + path, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
        assert forged.status_code in (401, 403) and order not in forged.text

    headers = {"Authorization": f"Bearer {ui.token()}"}
    grid = requests.get(f"{ui.base_url}/amazon-orders/api/orders", params={"order_number": order},
                        headers=headers, timeout=30)
    assert grid.status_code == 200 and [r["amazon_order_id"] for r in grid.json()["rows"]] == [order]
    bad = requests.get(f"{ui.base_url}/amazon-orders/", params={"total_min": "ten"}, headers=headers, timeout=30)
    assert bad.status_code == 400 and "total_min must be a number" in bad.text

    plugins = requests.get(f"{ui.base_url}/api/v2/plugins", headers=headers, timeout=30).json()["plugins"]
    views = [v for p in plugins for v in p["external_views"]]
    assert ({"name": "Amazon Orders", "href": "/amazon-orders/", "url_route": "amazon-orders"}.items()
            <= views[0].items())


def test_buyer_data_is_for_op_and_admin_and_hidden_from_viewer(ui):
    from sqlalchemy import select

    from amazon_channel.commerce.schema import channel_amazon_order

    o = channel_amazon_order.c
    order = ui.data["shipped"]  # a merchant order: Amazon shared its buyer and address
    with ui.engine.connect() as conn:
        buyer = conn.execute(select(o.buyer_name, o.buyer_email, o.ship_street, o.ship_city, o.ship_phone)
                             .where(o.amazon_order_id == order)).one()
    personal = [value for value in buyer if value]
    assert buyer.buyer_name and buyer.ship_street and len(personal) >= 3

    def get(user: str, path: str, **params) -> requests.Response:
        return requests.get(f"{ui.base_url}/amazon-orders{path}", params=params,
                            headers={"Authorization": f"Bearer {ui.token(user)}"}, timeout=30)

    for user in (USER, "oper"):
        (row,) = get(user, "/api/orders", order_number=order).json()["rows"]
        assert row["buyer_name"] == buyer.buyer_name, user
        detail = get(user, f"/orders/{order}").text
        assert all(html.escape(value) in detail for value in personal), user
        assert get(user, "/", buyer_name=buyer.buyer_name[:4]).status_code == 200

    (row,) = get("watcher", "/api/orders", order_number=order).json()["rows"]
    assert row["buyer_name"] == HIDDEN and row["amazon_order_id"] == order  # the rest of the order is there
    grid, detail = get("watcher", "/", order_number=order).text, get("watcher", f"/orders/{order}").text
    assert order in grid and order in detail and HIDDEN in detail
    for value in personal:
        assert value not in grid + detail and html.escape(value) not in grid + detail
    for refused in ({"buyer_name": buyer.buyer_name[:4]}, {"sort": "buyer_name"}):  # a search would reveal names
        response = get("watcher", "/api/orders", **refused)
        assert response.status_code == 403 and response.json()["detail"].startswith("buyer_name: "), refused


# Query strings the grid refuses, each with the parameter its 400 must name (plugins/amazon_orders_view.py parses
# them all in parse_grid_query; tests/unit/test_orders_view_query.py covers the messages in detail).
MALFORMED_FILTERS = [
    ("total_min=ten", "total_min"),
    ("total_min=sNaN", "total_min"),  # was a 500: a signalling NaN raises when compared
    ("total_max=NaN", "total_max"),
    ("total_min=-Infinity", "total_min"),
    ("total_max=1e999999999999999999", "total_max"),
    ("total_max=10000000000000000", "total_max"),  # 17 digits: more than Money(20,4) holds
    ("total_min=0.00001", "total_min"),  # 5 decimals: Money(20,4) has 4
    ("purchased_to=9999-12-31", "purchased_to"),  # was a 500: the query takes orders before the next day
    ("purchased_from=0001-01-01", "purchased_from"),
    ("purchased_from=2026-02-30", "purchased_from"),
    ("purchased_to=20260210", "purchased_to"),
    ("order_number=" + "1" * 65, "order_number"),
    ("order_number=171%00", "order_number"),  # a NUL, which PostgreSQL refuses in a string
    ("buyer_name=" + "x" * 256, "buyer_name"),
    ("status=" + "S" * 33, "status"),
    ("marketplace_id=A1PA%0A6795UKMFR9", "marketplace_id"),
    ("sort=buyer_email", "sort"),
    ("dir=sideways", "dir"),
    ("page=0", "page"),
    ("page=-3", "page"),
    ("page=99999999999", "page"),
    ("page=" + "9" * 5000, "page"),
    ("page_size=7", "page_size"),
    ("page_size=100000", "page_size"),
    ("total_min=1&total_min=2", "total_min"),
    ("account=Default", "account"),
    ("account=us%0A", "account"),
    ("account=" + "a" * 33, "account"),
]
GRID_PATHS = ["/amazon-orders/", "/amazon-orders/api/orders"]


@pytest.fixture(scope="module")
def auth(ui) -> dict:
    return {"Authorization": f"Bearer {ui.token()}"}


@pytest.mark.parametrize("path", GRID_PATHS)
@pytest.mark.parametrize(("query", "field"), MALFORMED_FILTERS, ids=[q[:40] for q, _ in MALFORMED_FILTERS])
def test_a_malformed_filter_is_a_400_that_names_it(ui, auth, path, query, field):
    response = requests.get(f"{ui.base_url}{path}?{query}", headers=auth, timeout=30)
    assert response.status_code == 400, response.text[:500]
    assert response.json()["detail"].startswith(f"{field} ")


@pytest.mark.parametrize("path", GRID_PATHS)
def test_filters_at_their_limits_are_accepted(ui, auth, path):
    query = ("purchased_from=1000-01-01&purchased_to=9999-12-30&total_min=-9999999999999999.9999"
             "&total_max=9999999999999999.9999&order_number=" + "%25" * 64 + "&buyer_name=" + "é" * 255
             + "&sort=grand_total&dir=asc&page=1000000000&page_size=200")
    response = requests.get(f"{ui.base_url}{path}?{query}", headers=auth, timeout=30)
    assert response.status_code == 200, response.text[:500]
    if path.endswith("/api/orders"):
        assert {k: response.json()[k] for k in ("rows", "total", "page", "page_size")} == {
            "rows": [], "total": 0, "page": 1, "page_size": 200}


def test_an_operator_logs_in_filters_and_opens_orders_in_chromium(ui):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: CI installs Debian's chromium package (.ci/run)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30_000)

        page.goto(f"{ui.base_url}/amazon-orders/")  # no session yet: no order data
        assert ui.data["shipped"] not in page.content()

        page.goto(f"{ui.base_url}/auth/login")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{ui.base_url}/")
        page.locator("a[href='/plugin/amazon-orders']").click()  # the navigation entry the plugin adds
        page.wait_for_url("**/plugin/amazon-orders")
        view = page.frame_locator("iframe")
        expect(view.locator("#orders tbody tr").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "01-orders-grid.png")

        rows = view.locator("#orders tbody tr")
        statuses = rows.locator("td.status").all_inner_texts()
        assert statuses and not {"Pending", "PendingAvailability"} & {s.strip() for s in statuses}
        for row in rows.all():
            account, status, commerce, note = (row.locator("td").nth(n).inner_text().strip() for n in (2, 3, 6, 10))
            assert account == "default"  # no accounts file: the single account
            if status in ("Unshipped", "PartiallyShipped", "Shipped") and "Cannot create order" not in note:
                assert commerce, f"a {status} order without its Commerce order number"

        assert view.locator("#account-filter option").all_inner_texts() == ["any", "default"]
        view.locator("select[name=status]").select_option("Unshipped")
        view.locator("#account-filter").select_option("default")
        view.locator("input[name=total_min]").fill("50")
        view.locator("#apply-filters").click()
        frame = next(f for f in page.frames if f != page.main_frame and "/amazon-orders/" in f.url)
        frame.wait_for_url("**account=default**")
        expect(view.locator("#order-count")).to_contain_text("orders")
        filtered = view.locator("#orders tbody td.status").all_inner_texts()
        assert filtered and {s.strip() for s in filtered} == {"Unshipped"}
        page.screenshot(path=SCREENSHOTS / "02-filtered.png")

        # A search by a buyer's name finds the order, and leaves the name out of the api-server's access log
        buyer = next(name for name in view.locator("#orders tbody td.buyer").all_inner_texts() if len(name) > 5)
        view.locator("input[name=buyer_name]").fill(buyer)
        view.locator("#apply-filters").click()
        frame.wait_for_url("**buyer_name=**")
        buyers = view.locator("#orders tbody td.buyer")
        expect(buyers.filter(has_not_text=buyer)).to_have_count(0)  # waits for the filtered page
        expect(buyers.first).to_contain_text(buyer)

        first = view.locator("a.order-link").first
        order_id = first.inner_text()
        first.click()
        expect(view.locator("#order-title")).to_contain_text(order_id)
        expect(view.locator("#order-account")).to_contain_text("default")
        expect(view.locator("#items tbody tr").first).to_be_visible()
        expect(view.locator("#commerce-order")).to_contain_text("#")
        page.screenshot(path=SCREENSHOTS / "03-order-detail.png", full_page=True)

        # The rejected package, with Amazon's message, and the order's note history.
        frame.goto(f"{ui.base_url}/amazon-orders/orders/{ui.data['rejected']}")
        expect(view.locator("#packages")).to_contain_text("failed")
        expect(view.locator("#order-status")).to_have_text("Error")  # Amazon still says Unshipped
        expect(view.locator("#rejection")).to_contain_text("tracking number is invalid")
        expect(view.locator("#packages")).to_contain_text("tracking number is invalid")
        expect(view.locator("#notes")).to_contain_text("rejected by Amazon")
        page.screenshot(path=SCREENSHOTS / "04-rejected-package.png", full_page=True)

        view.get_by_role("link", name="Quarantine & blocked").click()
        expect(view.locator("#blocked")).to_contain_text("is disabled")
        page.screenshot(path=SCREENSHOTS / "05-blocked.png")
        view.get_by_role("link", name="Sync health").click()
        expect(view.locator("#health svg.chart").first).to_be_visible()
        assert set(view.locator("#health td.account").all_inner_texts()) == {"default"}
        page.screenshot(path=SCREENSHOTS / "06-sync-health.png")
        browser.close()
    assert len(list(SCREENSHOTS.glob("0*.png"))) >= 6
    access_log = ui.log.read_text()
    assert "buyer_name=%2A%2A%2A" in access_log  # the search was logged, its value masked
    assert buyer not in access_log and quote_plus(buyer) not in access_log and quote(buyer) not in access_log
