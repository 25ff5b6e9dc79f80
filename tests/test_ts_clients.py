"""TypeScript clients generated from the app's own OpenAPI document walk the whole workflow.

The TypeScript twin of tests/test_sdk.py, with two toolchains an integrator is likely to pick:
``openapi-typescript`` (types) with ``openapi-fetch`` (client), and ``@hey-api/openapi-ts``
(an SDK with its bundled fetch client). Both are generated from the document the code builds
right now (``create_app().openapi()``), into a temporary directory, and must come out without
a warning. ``tsc --strict`` then checks them together with the two walks in
``tests/clients/ts/`` and must report nothing; the compiled walks run with ``node`` against a
real ``infoview serve`` on a fresh SQLite database: register, log in, upload a contact file,
two contacts, a referral, an interview, a refused move read by its typed codes, the checklist,
the request letter, every transition up to ``reported-back`` with the letters each needs, the
history, the interview's write-up as Markdown text and as the typed JSON model, and the account
export as the typed model. Each walk exits non-zero with a message on anything unexpected.

The npm packages come from ``tests/clients/ts/package-lock.json`` (``make pytest`` runs
``npm ci`` there). The walks are compiled in a copy of that directory whose ``node_modules`` is
a link to the installed one, so two runs at once never share generated files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.kit.config import Settings
from app.main import create_app
from tests.conftest import TEST_SECRET
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "tests" / "clients" / "ts"
CONTACTS_FILE = ROOT / "tests" / "data" / "contacts" / "linkedin_connections.csv"
WALKS = ("walk-openapi-fetch", "walk-hey-api")
# What the walks' directory holds besides node_modules: copied next to the generated code.
SOURCES = ("package.json", "tsconfig.json", "common.ts", *(f"{walk}.ts" for walk in WALKS))
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="Node.js and npm are needed for the TypeScript clients"
)


def current_document(tmp: Path) -> dict[str, Any]:
    """The document of the code as it is now; building it touches no database."""
    app = create_app(
        Settings(
            env="test",
            database_url=f"sqlite:///{tmp / 'unused.db'}",
            secret_key=TEST_SECRET,
            run_dispatcher=False,
        )
    )
    document: dict[str, Any] = app.openapi()
    app.state.engine.dispose()
    return document


def _bin(work: Path, name: str) -> str:
    return str(work / "node_modules" / ".bin" / name)


def _env(**extra: str) -> dict[str, str]:
    """The environment of every node process: plain output, no colours."""
    return {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", **extra}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both clients generated from the current document and compiled with the walks."""
    installed = CLIENTS / "node_modules"
    assert (installed / ".package-lock.json").is_file(), (
        f"the TypeScript toolchains are not installed: run `make pytest` (npm ci in {CLIENTS})"
    )
    work = tmp_path_factory.mktemp("ts-clients")
    for name in SOURCES:
        shutil.copyfile(CLIENTS / name, work / name)
    (work / "node_modules").symlink_to(installed, target_is_directory=True)
    document = work / "openapi.json"
    document.write_text(json.dumps(current_document(work)))

    generators = {
        # A field with a default may be left out of a request. openapi-typescript's default
        # (meant for responses) types such a field as always present, in request bodies too.
        "openapi-typescript": [
            _bin(work, "openapi-typescript"),
            str(document),
            "--output",
            "generated/openapi-fetch/schema.ts",
            "--default-non-nullable",
            "false",
        ],
        # Run from `work`, it finds tsconfig.json (NodeNext) and writes imports ending in .js.
        "@hey-api/openapi-ts": [
            _bin(work, "openapi-ts"),
            "--input",
            str(document),
            "--output",
            "generated/hey-api",
            "--client",
            "@hey-api/client-fetch",
            "--no-log-file",
        ],
    }
    running = {
        name: subprocess.Popen(
            command,
            cwd=work,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, command in generators.items()
    }
    outputs: dict[str, str] = {}
    try:
        for name, process in running.items():
            outputs[name] = process.communicate(timeout=180)[0]
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for name, output in outputs.items():
        assert running[name].returncode == 0, f"{name} failed:\n{output}"
        lowered = output.lower()
        assert "warn" not in lowered, f"{name} warned about our document:\n{output}"
        assert "error" not in lowered, f"{name}:\n{output}"

    code, output = _run([_bin(work, "tsc"), "--project", "tsconfig.json", "--strict"], work, _env())
    assert code == 0 and not output.strip(), f"tsc --strict found errors:\n{output}"
    for walk in WALKS:
        assert (work / "dist" / f"{walk}.js").is_file(), f"tsc wrote no dist/{walk}.js"
    return work


@pytest.fixture(scope="module")
def base_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``infoview serve`` (one worker) on a fresh copy of the migrated SQLite database."""
    path = tmp_path_factory.mktemp("ts-clients-db") / "clients.db"
    shutil.copyfile(sqlite_template, path)
    with live_server(f"sqlite:///{path}", workers=1) as url:
        yield url


def test_the_generated_typescript_clients_walk_the_whole_workflow(
    compiled: Path, base_url: str
) -> None:
    """Each toolchain's walk runs to its end; both run even when the first fails."""
    assert NODE is not None
    failures = []
    for walk in WALKS:
        code, output = _run(
            [NODE, f"dist/{walk}.js", base_url],
            compiled,
            _env(INFOVIEW_CONTACTS_FILE=str(CONTACTS_FILE)),
        )
        if code != 0:
            failures.append(f"{walk} exited with {code}:\n{output}")
    assert not failures, "\n\n".join(failures)
