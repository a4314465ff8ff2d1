"""Run-scoped staging of raw pages between tasks, on any fsspec file system (file:// here, s3:// in production).

Tasks pass the returned path through XCom, never the rows themselves.
"""

from __future__ import annotations

import os
import re

import fsspec
import msgspec

from .crypto import seal_bytes, unseal_bytes


def safe_segment(value: str) -> str:
    """A run id such as 'scheduled__2026-01-01T10:00:00+00:00' as one path segment."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)


OWNER_ONLY_FOLDER, OWNER_ONLY_FILE = 0o700, 0o600


class Staging:
    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root)
        self._local_disk = "file" in ((self.fs.protocol,) if isinstance(self.fs.protocol, str) else self.fs.protocol)

    @classmethod
    def from_environment(cls) -> Staging:
        """Root from AMAZON_CHANNEL_STAGING_ROOT, else a folder under AIRFLOW_HOME (single-machine default)."""
        root = os.environ.get("AMAZON_CHANNEL_STAGING_ROOT") or "file://" + os.path.join(
            os.environ.get("AIRFLOW_HOME", "/tmp"), "amazon_channel_staging")
        return cls(root)

    def exists(self, url: str) -> bool:
        return self.fs.exists(fsspec.core.url_to_fs(url)[1])

    def run_path(self, dag_id: str, run_id: str, step: str) -> str:
        return f"{self.root}/{safe_segment(dag_id)}/{safe_segment(run_id)}/{step}"

    def purge(self, dag_id: str, older_than_days: float, now: float | None = None) -> list[str]:
        """Delete run folders last written more than `older_than_days` ago.

        Staged pages hold buyer data: Amazon's Data Protection Policy allows keeping it only as long as needed.
        """
        import time

        _, root = fsspec.core.url_to_fs(f"{self.root}/{safe_segment(dag_id)}")
        if not self.fs.exists(root):
            return []
        cutoff = (now or time.time()) - older_than_days * 86400
        purged = []
        for run in self.fs.ls(root, detail=False):
            stamps = [self.fs.modified(f).timestamp() for f in self.fs.find(run)] or [self.fs.modified(run).timestamp()]
            if max(stamps) < cutoff:
                self.fs.rm(run, recursive=True)
                purged.append(run.rsplit("/", 1)[-1])
        return purged

    def clear(self, path: str) -> None:
        """Remove a step's earlier output so a re-run replaces it instead of adding to it."""
        _, local = fsspec.core.url_to_fs(path)
        if self.fs.exists(local):
            self.fs.rm(local, recursive=True)
        self.fs.makedirs(local, exist_ok=True)
        self._owner_only(local, OWNER_ONLY_FOLDER)

    def _owner_only(self, local: str, mode: int) -> None:
        """Staged pages hold buyer data: on a local disk only the account that runs Airflow may read them, and the
        folders below the staging root (the root itself may be shared: its mode is the operator's). Object stores
        have no modes: there the bucket's policy does this."""
        if not self._local_disk:
            return
        os.chmod(local, mode)
        folder = os.path.dirname(local) if mode == OWNER_ONLY_FILE else local
        while folder.startswith(self._root_path.rstrip("/") + "/"):
            os.chmod(folder, OWNER_ONLY_FOLDER)
            folder = os.path.dirname(folder)

    def _write(self, path: str, name: str, data: bytes) -> None:
        """Staged pages hold buyer data: sealed with the buyer data key when one is configured (amazon_channel.crypto),
        owner-only on a local disk."""
        with fsspec.open(f"{path}/{name}", "wb") as handle:
            handle.write(seal_bytes(data))
        self._owner_only(fsspec.core.url_to_fs(f"{path}/{name}")[1], OWNER_ONLY_FILE)

    def _read(self, local: str) -> bytes:
        with self.fs.open(local, "rb") as handle:
            return unseal_bytes(handle.read())

    def write_json(self, path: str, name: str, payload) -> None:
        # UTF-8 JSON; several times faster than the json module
        self._write(path, name, msgspec.json.encode(payload))

    def files(self):
        """(folder URL, file name) of every staged file, in path order."""
        if not self.fs.exists(self._root_path):
            return
        root = self._root_path.rstrip("/")
        for local in sorted(self.fs.find(self._root_path)):
            folder, name = local.rsplit("/", 1)
            yield self.root + folder[len(root):], name

    def read_file(self, path: str, name: str) -> bytes:
        return self._read(fsspec.core.url_to_fs(f"{path}/{name}")[1])

    def _names(self, path: str, suffix: str) -> list[str]:
        _, local = fsspec.core.url_to_fs(path)
        return [name for name in sorted(self.fs.ls(local, detail=False)) if name.endswith(suffix)]

    def read_bytes(self, path: str, suffix: str):
        """Yield the contents of the files under `path` whose names end with `suffix`, in name order."""
        for name in self._names(path, suffix):
            yield self._read(name)

    def write_frame(self, path: str, name: str, frame) -> None:
        self._write(path, name, frame.to_parquet(index=False))

    def read_frame(self, path: str, name: str):
        return _parquet(self.read_file(path, name))

    def read_frames(self, path: str, suffix: str):
        """The Parquet files under `path` whose names end with `suffix`, as one frame (None when there are none)."""
        import pandas as pd

        frames = [_parquet(self._read(name)) for name in self._names(path, suffix)]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else None)


def _parquet(data: bytes):
    import io

    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))
