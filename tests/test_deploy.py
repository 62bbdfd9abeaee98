"""deploy/docker-compose.yml cannot run here (no Docker): check that it parses and that every setting
it gives the replicas is one assistant/config.py knows, with a value of the right type."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import yaml

from assistant.config import Settings, load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_compose_file_gives_replicas_known_settings(monkeypatch):
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"etcd", "minio", "milvus", "builder", "app", "proxy"} <= set(services)
    env = services["app"]["environment"]
    assert env == services["builder"]["environment"]  # the builder writes what the replicas read
    known = {f"ASSISTANT_{f.name.upper()}" for f in fields(Settings)}
    assistant_vars = {k for k in env if k.startswith("ASSISTANT_")}
    assert assistant_vars <= known, assistant_vars - known
    assert env["ASSISTANT_STORE"] == "milvus" and env["ASSISTANT_MILVUS_URI"].startswith("http://milvus:")
    assert env["ASSISTANT_MILVUS_TOKEN_ENV"] in env  # the token variable the setting names is passed through
    for name in assistant_vars:  # the values load as the settings' types (compose's ${VAR:-} defaults as empty)
        value = env[name]
        monkeypatch.setenv(name, "" if "${" in str(value) else str(value))
    settings = load_settings(config_file="/nonexistent.toml")
    assert settings.store == "milvus" and settings.index_dir == "/srv/index"
    mounts = services["app"]["volumes"]
    assert "index:/srv/index:ro" in mounts and any(m.endswith(":/srv/corpus:ro") for m in mounts)
    assert "server app:7860" in (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
