"""The production image and the compose stack cannot run here (no Docker engine): check by reading that the
Dockerfile, docker-compose.yaml and requirements.lock agree and wire what the project needs."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from tests.support import ROOT

pytestmark = [pytest.mark.unit]
AIRFLOW_COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}
AIRFLOW_SERVICES = list(AIRFLOW_COMMANDS)
INFRA_SERVICES = ["postgres", "redis", "commerce-db", "sp-api-emulator"]
IMAGE_SERVICES = [*AIRFLOW_SERVICES, "airflow-init", "sp-api-emulator"]  # run the image built from ./Dockerfile
DEV_MARKER = "# development and tests"  # requirements.txt: what follows is left out of the image
DEV_TOOLS = {"pytest", "pytest-xdist", "fastjsonschema", "pyyaml", "ruff", "playwright", "matplotlib"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines) -> list[str]:
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(canonical(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]))
    return names


@pytest.fixture(scope="module")
def compose_text():
    return (ROOT / "docker-compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text):
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuation lines joined, comment lines dropped."""
    instructions, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[canonical(name)] = version
    return pins


def runs(dockerfile) -> list[str]:
    return [args for keyword, args in dockerfile if keyword == "RUN"]


# The image


def test_image_is_the_pinned_airflow_on_python_311(dockerfile, lock):
    bases = [args for keyword, args in dockerfile if keyword == "FROM"]
    assert len(bases) == 1, bases
    match = re.fullmatch(r"apache/airflow:(?:slim-)?(?P<airflow>\d+\.\d+\.\d+)-python(?P<python>\d+\.\d+)", bases[0])
    assert match, f"not an official versioned Airflow image: {bases[0]}"
    assert match["airflow"] == lock["apache-airflow"] == lock["apache-airflow-core"]
    assert match["python"] == "3.11" == f"{sys.version_info.major}.{sys.version_info.minor}"  # the tested Python


def test_image_installs_the_lock_then_the_project_once(dockerfile):
    keywords = [keyword for keyword, _ in dockerfile]
    installs = [run for run in runs(dockerfile) if "pip install" in run]
    assert len(installs) == 2, installs
    dependencies, project = installs
    # The official image's documented way: as the airflow user, Airflow pinned to the image's own version.
    assert ("USER", "airflow") in dockerfile
    assert keywords.index("USER") < keywords.index("RUN")
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dependencies and "--no-cache-dir" in dependencies
    assert re.search(r"(-c|--constraint|-r|--requirement) \S*requirements\.lock\b", dependencies), dependencies
    assert "pip check" in dependencies  # the installed set must be consistent, or the build fails
    assert "--no-deps" in project and not re.search(r"(^|\s)(-e|--editable)\s", project)
    assert dockerfile.index(("RUN", dependencies)) < dockerfile.index(("RUN", project))
    copies = {args.split()[-1].rstrip("/"): args for keyword, args in dockerfile if keyword == "COPY"}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins"} <= set(copies)  # runs without bind mounts


def test_image_leaves_out_only_development_tools(dockerfile):
    """The Dockerfile drops requirements.txt's lines from DEV_MARKER on; nothing there may be needed at run time."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert lines.count(DEV_MARKER) == 1, f"requirements.txt needs exactly one line {DEV_MARKER!r}"
    cut = lines.index(DEV_MARKER)
    assert any(f"sed '/^{DEV_MARKER}/,$d'" in run for run in runs(dockerfile))
    runtime, development = requirement_names(lines[:cut]), requirement_names(lines[cut:])
    assert set(development) <= DEV_TOOLS, f"runtime packages after {DEV_MARKER!r}: {set(development) - DEV_TOOLS}"
    assert {"apache-airflow", "apache-airflow-providers-celery", "s3fs", "psycopg2-binary",
            "great-expectations"} <= set(runtime)
    # Left-out tools that the code does use (YAML accounts files) still come with Airflow itself.
    airflow_needs = requirement_names(importlib.metadata.requires("apache-airflow-core") or [])
    assert "pyyaml" in airflow_needs
    test_only = re.compile(r"^\s*(import|from)\s+(pytest|_pytest|xdist|matplotlib|playwright|ruff)\b", re.M)
    for folder in ["include", "dags", "plugins"]:
        for path in (ROOT / folder).rglob("*.py"):
            assert not test_only.search(path.read_text()), f"{path.relative_to(ROOT)} imports a development tool"


def test_every_copy_source_is_in_the_build_context(dockerfile):
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".venv", ".git", ".airflow", ".cluster", ".env"} <= set(ignored)
    sources = [source for keyword, args in dockerfile if keyword == "COPY"
               for source in [arg for arg in args.split() if not arg.startswith("--")][:-1]]
    assert {"requirements.txt", "requirements.lock", "pyproject.toml", "include/", "dags/", "plugins/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        path = source.rstrip("/")
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f"COPY {source}: in .dockerignore"


def test_lock_pins_what_the_image_and_the_cluster_need(lock):
    for name in ["apache-airflow-providers-celery", "celery", "redis", "s3fs", "fsspec", "psycopg2-binary"]:
        assert name in lock, f"{name} is not pinned in requirements.lock"
    # The project is installed with --no-deps: every dependency it declares must come from the lock.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    missing = set(requirement_names(declared)) - set(lock)
    assert not missing, f"pyproject.toml dependencies not in requirements.lock: {missing}"


# The compose stack


def test_production_shaped_services(compose):
    services = compose["services"]
    for name in [*AIRFLOW_SERVICES, "airflow-init", *INFRA_SERVICES]:
        assert name in services, name
    assert {name: services[name]["command"] for name in AIRFLOW_SERVICES} == AIRFLOW_COMMANDS
    assert "amazon_channel.emulator" in services["sp-api-emulator"]["command"]


def test_services_build_and_run_the_project_image(compose, compose_text):
    common = compose["x-airflow-common"]
    build = common["build"]
    assert (build if isinstance(build, str) else build.get("context", ".")) == "."
    if isinstance(build, dict):
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert common["image"] and "apache/airflow" not in common["image"]  # our image, tagged for a registry
    for name in IMAGE_SERVICES:
        service = compose["services"][name]
        assert service.get("build") == build and service.get("image") == common["image"], name
    # Nothing is pip-installed at container start (the official image's quick-trial switch).
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in compose_text
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (ROOT / "Dockerfile").read_text()


def test_no_source_is_mounted(compose):
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            assert source in named, f"{name} mounts {source}: the image holds the code, only named volumes"


def test_every_airflow_container_gets_the_same_config(compose):
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = compose["services"][name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"]  # one secret shared by every process
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        sp_api = json.loads(env["AIRFLOW_CONN_AMAZON_SP_API"])
        assert sp_api["extra"]["endpoint"] == "http://sp-api-emulator:8900" and sp_api["extra"]["refresh_token"]
        assert json.loads(env["AIRFLOW_CONN_COMMERCE_DB"])["extra"]["url"].startswith("postgresql")
        # Staging every worker can read: the shared named volume, mounted where the root points.
        assert env["AMAZON_CHANNEL_STAGING_ROOT"] == "${AMAZON_CHANNEL_STAGING_ROOT:-file:///opt/airflow/staging}"
        assert "staging:/opt/airflow/staging" in service["volumes"]
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")


def test_every_deployment_masks_searched_buyer_names_in_the_access_log(compose):
    """The Orders view's buyer-name filter is personal data: Airflow's access log masks it only when told to."""
    from amazon_orders_view import PERSONAL_FILTERS

    assert compose["services"]["airflow-apiserver"]["environment"]["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == \
        ",".join(PERSONAL_FILTERS)
    for script in ("run_local.sh", "run_cluster.sh"):
        text = (ROOT / "include" / "scripts" / script).read_text()
        assert f'AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES="${{AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES:-' \
               f'{",".join(PERSONAL_FILTERS)}}}"' in text, script


def test_every_long_running_service_has_a_health_check(compose, compose_text):
    services = compose["services"]
    for name in [*AIRFLOW_SERVICES, *INFRA_SERVICES]:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"

    def probe(name):
        test = services[name]["healthcheck"]["test"]
        return " ".join(test) if isinstance(test, list) else test

    assert "http://localhost:8080/api/v2/version" in probe("airflow-apiserver")
    assert "http://localhost:8974/health" in probe("airflow-scheduler")
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert 'airflow jobs check --job-type DagProcessorJob --hostname "$${HOSTNAME}"' in probe("airflow-dag-processor")
    assert 'airflow jobs check --job-type TriggererJob --hostname "$${HOSTNAME}"' in probe("airflow-triggerer")
    worker_probe = probe("airflow-worker")
    assert re.search(r"celery --app (\S+)\.app inspect ping -d \"celery@\$\$\{HOSTNAME\}\"", worker_probe)
    module = re.search(r"celery --app (\S+)\.app", worker_probe)[1]
    assert importlib.util.find_spec(module), f"{module} is not importable with requirements.lock"
    # `condition: service_healthy` only on services that have a health check.
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health"


def test_worker_scales_with_docker_compose_scale(compose):
    worker = compose["services"]["airflow-worker"]
    for fixed in ["container_name", "hostname", "ports"]:  # each replica needs its own name, host name and ports
        assert fixed not in worker, f"airflow-worker sets {fixed}: --scale airflow-worker=N would clash"
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"  # warm shutdown on stop / scale-down
    assert {"redis", "postgres", "commerce-db", "sp-api-emulator", "airflow-init"} <= set(worker["depends_on"])


def test_only_compose_variables_are_interpolated(compose_text):
    """Compose replaces `$x`/`${x}` from the host environment: shell variables inside commands must be `$$x`."""
    for lineno, line in enumerate(compose_text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        stray = re.search(r"\$(?![{$])", line.replace("$$", ""))
        assert not stray, f"docker-compose.yaml:{lineno}: a lone $ would be read by compose: {line.strip()}"


@pytest.mark.parametrize("accounts", [None, ["us", "eu"]], ids=["no accounts file", "accounts file"])
def test_init_migrates_and_creates_one_pool_per_account(compose, accounts, tmp_path):
    """Run airflow-init's script as compose would (`$$` -> `$`), with a stand-in `airflow` recording its calls."""
    init = compose["services"]["airflow-init"]
    assert init["command"][:2] == ["bash", "-c"] and "healthcheck" not in init
    script = init["command"][2].replace("$$", "$")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for command, body in [("airflow", f'echo "$*" >> {calls}'), ("python", f'exec {sys.executable} "$@"')]:
        (bin_dir / command).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / command).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if accounts:
        accounts_file = tmp_path / "accounts.json"
        accounts_file.write_text(json.dumps({"accounts": [{"id": a, "conn_id": f"amazon_sp_api_{a}"}
                                                          for a in accounts]}))
        env["AMAZON_CHANNEL_ACCOUNTS_FILE"] = str(accounts_file)
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=60, cwd=tmp_path)
    recorded = calls.read_text().splitlines()
    pools = [f"amazon_sp_api__{a}" for a in accounts] if accounts else ["amazon_sp_api"]
    assert recorded == ["db migrate", *[f"pools set {pool} 1 One seller's SP-API quota in one region, "
                                        "shared by all runs" for pool in pools]]


def test_every_deployment_seals_buyer_data_at_rest(compose):
    """make run and make cluster make a buyer data key once when none is given; compose passes the operator's."""
    for service in ("airflow-apiserver", "airflow-worker", "airflow-scheduler"):
        assert compose["services"][service]["environment"]["AMAZON_CHANNEL_BUYER_DATA_KEYS"] == \
            "${AMAZON_CHANNEL_BUYER_DATA_KEYS:-}"
    for script in ("run_local.sh", "run_cluster.sh"):
        text = (ROOT / "include" / "scripts" / script).read_text()
        assert "python -m amazon_channel.crypto new-key" in text and "umask 077" in text, script
