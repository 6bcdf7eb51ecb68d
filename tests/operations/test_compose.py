"""compose.yaml: it parses, and names only files, settings, commands and variables that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import click
import pytest
import yaml

from app.cli import cli
from app.config import Settings
from tests.operations.helpers import REPO

COMPOSE = REPO / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def ours(compose: dict) -> dict[str, dict]:
    """The services that run the project's image."""
    return {name: s for name, s in compose["services"].items() if s.get("image") == "newscorpus"}


def test_a_database_a_migration_two_replicas_and_a_worker(compose: dict) -> None:
    services = ours(compose)
    commands = {name: " ".join(s["command"]) for name, s in services.items()}
    assert "postgres" in compose["services"]
    assert [n for n, c in commands.items() if c == "newscorpus migrate"] == ["migrate"]
    assert len([c for c in commands.values() if c.startswith("newscorpus serve")]) == 2
    assert [n for n, c in commands.items() if "extract --pending" in c] == ["worker"]
    for name, service in services.items():
        assert service["build"] == "." and (REPO / "Dockerfile").exists()
        if name != "migrate":
            depends = service["depends_on"]["migrate"]["condition"]
            assert depends == "service_completed_successfully", name
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_settings_are_the_apps_own(compose: dict) -> None:
    fields = {f"NEWSCORPUS_{name.upper()}" for name in Settings.model_fields}
    for name, service in ours(compose).items():
        named = set(service["environment"])
        assert named <= fields, (name, named - fields)
        url = service["environment"]["NEWSCORPUS_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url


def test_commands_and_their_options_exist(compose: dict) -> None:
    for name, service in ours(compose).items():
        line = " ".join(service["command"])
        for invocation in re.findall(r"newscorpus [^;&|]*", line):
            args = shlex.split(invocation)[1:]
            command = cli.get_command(click.Context(cli), args[0])
            assert command is not None, (name, args[0])
            command.make_context(args[0], args[1:])  # a bad option raises UsageError


def test_files_and_volumes_exist(compose: dict) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for service in ours(compose).values():
        for argument in service["command"]:
            if argument.startswith("/srv/newscorpus/"):  # in the image: copied there from here
                relative = argument.removeprefix("/srv/newscorpus/")
                assert f"COPY {relative} {argument}" in dockerfile and (REPO / relative).exists()
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared, volume


def test_every_variable_has_a_default_and_is_documented() -> None:
    readme = (REPO / "README.md").read_text()
    variables = re.findall(r"\$\{(\w+)(:-[^}]*)?\}", COMPOSE.read_text())
    assert variables
    for name, default in variables:
        assert default, f"${{{name}}} has no default: compose would fail without an .env"
        assert name in readme, f"{name} is not in the README"


def _compose_config_command() -> str | None:
    """Why podman-compose cannot check the file here, if it cannot: missing, or too old to have
    `config` (Debian 12's 1.0.3 has none; its `--dry-run up` still creates volumes)."""
    if shutil.which("podman-compose") is None:
        return "podman-compose not installed"
    usage = subprocess.run(["podman-compose", "--help"], capture_output=True, text=True).stdout
    return None if re.search(r"[{,]config[,}]", usage) else "this podman-compose has no config"


CANNOT_CHECK = _compose_config_command()


@pytest.mark.skipif(CANNOT_CHECK is not None, reason=str(CANNOT_CHECK))
def test_podman_compose_reads_it() -> None:
    done = subprocess.run(
        ["podman-compose", "-f", str(COMPOSE), "config"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
