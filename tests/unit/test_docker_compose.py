"""docker-compose.yaml cannot run here (no Docker engine): check by reading that it wires what the project needs."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support import ROOT

pytestmark = [pytest.mark.unit]
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_production_shaped_services(compose):
    services = compose["services"]
    for name in [*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "commerce-db", "sp-api-emulator"]:
        assert name in services, name
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker"}
    assert "amazon_channel.emulator" in services["sp-api-emulator"]["command"]


def test_every_airflow_container_gets_the_project_and_config(compose):
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = compose["services"][name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"]  # one secret shared by every process
        assert "/opt/airflow/project" in env["_PIP_ADDITIONAL_REQUIREMENTS"]
        sp_api = json.loads(env["AIRFLOW_CONN_AMAZON_SP_API"])
        assert sp_api["extra"]["endpoint"] == "http://sp-api-emulator:8900" and sp_api["extra"]["refresh_token"]
        assert json.loads(env["AIRFLOW_CONN_COMMERCE_DB"])["extra"]["url"].startswith("postgresql")
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert mounts["/opt/airflow/dags"] == "./dags" and mounts["/opt/airflow/plugins"] == "./plugins"
        assert mounts["/opt/airflow/project/include"] == "./include"
        for source in mounts.values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_pool_is_created_and_services_wait_for_dependencies(compose):
    services = compose["services"]
    assert "pools set amazon_sp_api 1" in " ".join(services["airflow-init"]["command"])
    worker_deps = services["airflow-worker"]["depends_on"]
    assert {"redis", "postgres", "commerce-db", "sp-api-emulator"} <= set(worker_deps)
