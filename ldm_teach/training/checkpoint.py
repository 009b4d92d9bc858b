"""Checkpoints in safetensors, written atomically.

A checkpoint holds tensors only (model weights, EMA weights, optimizer moments) in one
``.safetensors`` file; everything else (step, configs, optimizer hyper-parameters, losses)
goes into the file's string metadata as JSON. Writing goes to a temporary file in the same
folder, is flushed to disk, and then renamed over the target with ``os.replace``, which is
atomic on POSIX and Windows: a crash mid-write leaves the previous checkpoint intact.
Files that belong together (weights and card) are written as one transaction by
:func:`atomic_targets`; :func:`check_output_dir` and :func:`check_output_file` check an
output location before the work that fills it starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from ldm_teach.argcheck import check_bool
from ldm_teach.device import check_device


def _resolve_target(path: str | os.PathLike) -> tuple[Path, int]:
    """The file an atomic write replaces, and the mode the new file gets.

    A symbolic link is followed, so the file it points to gets the new content (replacing
    the link by a regular file would leave the real file unchanged). An existing file keeps
    its permission bits; a new file gets those open() would give (0666 minus the umask).

    Raises:
        PermissionError: if the existing file is read-only (no write bit for anyone): the
            user protected it, so it is not replaced (even by root).
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return path, 0o666 & ~umask
    except OSError:  # e.g. a parent is a file: the write below reports it
        return path, 0o644
    if path.is_file() and not mode & 0o222:
        raise PermissionError(
            f"{path} is read-only (mode {mode:o}); not replacing it. Make it "
            f"writable (chmod u+w {path}) or write elsewhere"
        )
    return path, mode


@contextlib.contextmanager
def _atomic_target(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success, flush it to disk and rename
    it over ``path`` (``os.replace`` is atomic); on failure, remove it and leave ``path``.
    Symbolic links are followed and the file's permissions kept (:func:`_resolve_target`)."""
    path, mode = _resolve_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates the file readable by its owner only: give it the replaced
        # file's permissions, or those of a new file (0666 minus the umask)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + os.replace).

    A symbolic link is followed (its target gets the data) and an existing file keeps its
    permissions; a read-only file is refused. A hard link is broken: the other names keep
    the previous content (an atomic replace cannot write through them).

    Raises:
        OSError: if the folder cannot be created or written (``path`` is then unchanged).
    """
    with _atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically; newlines are written as given (no translation).

    Raises:
        TypeError: if ``text`` is not a str (use :func:`atomic_write_bytes` for bytes).
        OSError: if the folder cannot be created or written (``path`` is then unchanged).
    """
    if not isinstance(text, str):
        raise TypeError(
            f"text must be a str, got {type(text).__name__} (for bytes use atomic_write_bytes)"
        )
    atomic_write_bytes(path, text.encode(encoding))


def backup_path(path: str | os.PathLike) -> Path:
    """Where :func:`atomic_targets` keeps the previous version of ``path`` until all of its
    files are in place: ``.NAME.prev`` beside it (left behind only by a hard crash)."""
    path = Path(path)
    return path.with_name(f".{path.name}.prev")


def _keep_previous(path: Path) -> Path | None:
    """Keep the current ``path`` as ``backup_path(path)`` (hard link, or a copy); None if
    there is no current file."""
    if not path.exists():
        return None
    backup = backup_path(path)
    if backup.exists():
        backup.unlink()  # left by an earlier crash; ``path`` is the newer state
    try:
        os.link(path, backup)
    except OSError:  # no hard links on this file system
        shutil.copy2(path, backup)
    return backup


@contextlib.contextmanager
def atomic_targets(*paths: str | os.PathLike) -> Iterator[list[str]]:
    """Write several files as one transaction.

    Yields one temporary file name beside each path. When the block succeeds, each file is
    flushed to disk and renamed over its path in the order given, the last one being the
    commit. Until then the previous version of every path is kept (as ``backup_path``):
    if a rename fails, the paths already renamed get their previous version back, so
    either all new files are in place or all old ones are. If the block fails, the
    temporary files are removed and no path is touched.

    Symbolic links are followed and permissions kept, as by :func:`atomic_write_bytes`.

    Raises:
        OSError: from creating the folder, the temporary files or the renames; the paths
            are then as before (PermissionError for a read-only target, before anything).
    """
    resolved = [_resolve_target(p) for p in paths]
    targets = [target for target, _ in resolved]
    temps: list[str] = []
    done: list[tuple[Path, Path | None]] = []  # renamed so far: (target, previous version)
    pending: Path | None = None  # previous version kept for the rename under way
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            temps.append(tmp)
        yield list(temps)
        for tmp, (_, mode) in zip(temps, resolved, strict=True):
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)  # mkstemp's 0600 -> the replaced file's, or open()'s
        for index, (target, tmp) in enumerate(zip(targets, temps, strict=True)):
            # the last rename is the commit: no need to keep what it replaces
            pending = _keep_previous(target) if index < len(targets) - 1 else None
            os.replace(tmp, target)
            done.append((target, pending))
            pending = None
    except BaseException:
        if pending is not None and pending.exists():
            pending.unlink()
        for target, previous in reversed(done):  # roll back: the previous versions return
            if previous is not None:
                os.replace(previous, target)
            elif target.exists():
                target.unlink()
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for _, previous in done:
        if previous is not None and previous.exists():
            previous.unlink()


def path_arg(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a Path, refusing an empty name (``Path("")`` would silently mean the
    current folder).

    Args:
        value: a file or folder name given by the user.
        what: how to name the argument in errors, e.g. ``"--out"``.
    Raises:
        ValueError: if ``value`` is empty or blank (or None), naming ``what``.
    """
    if value is None or not str(os.fspath(value)).strip():
        raise ValueError(
            f"{what} must name a file or folder, got {value!r} (use '.' for the current folder)"
        )
    return Path(value)


def check_output_dir(folder: str | os.PathLike, what: str = "out_dir") -> Path:
    """Check, before any work, that files can be written into ``folder``.

    ``folder`` need not exist: its nearest existing parent must then be a writable folder
    (nothing is created). A temporary file is created and removed to prove it.

    Args:
        folder: the output folder.
        what: how to name the argument in errors, e.g. ``"--out-dir"``.
    Returns:
        ``folder`` as a Path.
    Raises:
        ValueError: if ``folder`` is empty.
        NotADirectoryError: if ``folder`` (or a parent) exists as a file.
        PermissionError, OSError: if a file cannot be created there.
    """
    if not str(folder).strip():
        raise ValueError(f"{what} must be a folder name, got an empty string")
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {folder}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".ldm-teach-write-test.")
    except OSError as err:
        raise PermissionError(
            f"{what} {folder}: cannot write into {existing} ({err.strerror or err})"
        ) from err
    os.close(fd)
    os.unlink(probe)
    return folder


def check_output_file(path: str | os.PathLike, what: str = "out", overwrite: bool = False) -> Path:
    """Check, before any work, that the file ``path`` may be (over)written.

    Args:
        path: the output file.
        what: how to name the argument in errors, e.g. ``"--out"``.
        overwrite: whether an existing file may be replaced.
    Returns:
        ``path`` as a Path.
    Raises:
        ValueError: if ``path`` is empty.
        IsADirectoryError: if ``path`` is a folder.
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
        NotADirectoryError, PermissionError, OSError: as :func:`check_output_dir` for its
            folder.
    """
    overwrite = check_bool(overwrite, "overwrite")  # "False" must not mean yes
    if not str(path).strip():
        raise ValueError(f"{what} must be a file name, got an empty string")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{what} {path} exists; pass --overwrite or choose another {what}")
    check_output_dir(path.parent, what=f"{what} {path}: folder")
    return path


def save_tensors_atomic(
    tensors: dict[str, Tensor], path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> None:
    """Save a flat dict of tensors to ``path`` (safetensors), atomically.

    Args:
        tensors: name -> tensor; tensors are made contiguous and moved to the CPU.
        path: target file; its folder is created if needed.
        metadata: JSON-serialisable dict stored under the metadata key ``"json"``.
    """
    with _atomic_target(path) as tmp:
        write_tensors(tensors, tmp, metadata)


def write_tensors(
    tensors: dict[str, Tensor], path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> None:
    """Save tensors as :func:`save_tensors_atomic` does, but straight into ``path`` (a
    temporary name from :func:`atomic_targets`, for instance)."""
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {"json": json.dumps(metadata or {}, sort_keys=True)}
    save_file(flat, str(path), metadata=meta)


def load_tensors(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, Tensor], dict]:
    """Load (tensors, metadata dict) written by :func:`save_tensors_atomic`.

    Raises:
        ValueError: if ``path`` is empty, ``device`` is not a device of this machine, or
            the file is not a readable safetensors file or its metadata is not JSON
            (naming the file).
        FileNotFoundError: if ``path`` does not exist.
    """
    path = path_arg(path, "checkpoint path")
    device = check_device(device)  # a bad device is not a damaged checkpoint
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path), device=str(device))
        data = json.loads(meta.get("json", "{}"))
    except OSError:
        raise
    except Exception as err:  # safetensors' SafetensorError, a bad header, bad JSON
        raise ValueError(
            f"checkpoint {path} is not a readable safetensors file "
            f"({type(err).__name__}: {err}); the file is damaged or is not a "
            "checkpoint: delete or move it, or resume from another"
        ) from err
    if not isinstance(data, dict):
        raise ValueError(
            f"checkpoint {path}: its metadata must be a JSON object, got {type(data).__name__}"
        )
    return tensors, data


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer state dict into flat tensors and JSON-able metadata."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_to_tensors`: load the state into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith("optim."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
