"""One rule for what a command writes: checked before the work, never clobbering, written atomically.

Every command that writes files follows it (issue 24):

- an existing output is refused unless ``--overwrite`` is given (``train``: ``--resume`` or ``--overwrite``);
- ``--overwrite`` replaces only what seaice-explorer itself wrote: a NetCDF file carrying the
  ``created_by`` attribute, an image that is an image of that format, a store written by
  ``prepare``, a report folder marked by ``evaluate``, a checkpoint folder. Anything else is
  refused whatever the flag;
- an output that is, contains or lies inside one of the command's inputs is refused, and two
  outputs may not be the same path;
- an output must be writable, and a file output must not be a folder (and the other way round);
- files are written to a temporary name and renamed (:func:`atomic_file`), a store to a temporary
  folder that replaces the old one only once it is complete (:func:`atomic_folder`).

Example
-------
>>> check_outputs([Output(Path("samples.nc"), "netcdf")], overwrite=False)   # doctest: +SKIP
>>> with atomic_file(Path("samples.nc")) as tmp:                              # doctest: +SKIP
...     ds.to_netcdf(tmp)
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import SeaIceInputError

Kind = Literal["netcdf", "gif", "mp4", "png", "report", "store", "checkpoint"]
#: Global attribute that marks a NetCDF file as written by seaice-explorer (value: the command).
CREATED_BY = "created_by"
#: File that marks a folder as a report written by ``evaluate``.
MARKER_FILE = ".seaice-explorer.json"
FOLDER_KINDS = ("report", "store", "checkpoint")
#: What training writes in a checkpoint folder (a folder holding only these is a checkpoint in the making).
CHECKPOINT_FILES = frozenset({"config.json", "model.safetensors", "README.md", "sample.png", "training.json", "grid.nc",
                              "train_state"})
_MAGIC = {"gif": (b"GIF87a", b"GIF89a"), "png": (b"\x89PNG\r\n\x1a\n",)}
_WHAT = {
    "netcdf": "a NetCDF file written by seaice-explorer (global attribute created_by)",
    "gif": "a GIF image", "mp4": "an MP4 video", "png": "a PNG image",
    "report": f"a report folder written by `seaice-explorer evaluate` (marked by {MARKER_FILE})",
    "store": "a Zarr store written by `seaice-explorer prepare`",
    "checkpoint": "a checkpoint folder (config.json and model.safetensors)",
}


@dataclass(frozen=True)
class Output:
    """One path a command will write, what it will be, and the option that named it."""

    path: Path
    kind: Kind
    option: str = "--out"


def created_by(command: str) -> dict[str, str]:
    """The global attribute that marks a NetCDF file as written by ``command`` (e.g. "generate")."""
    return {CREATED_BY: f"seaice-explorer {command}"}


def check_outputs(outputs: Sequence[Output], *, overwrite: bool, inputs: Iterable[object] = (),
                  flag: str = "--overwrite", make_folders: bool = False) -> None:
    """Refuse, before any work, every output that would lose data or cannot be written.

    ``inputs``: the command's input paths, globs or names (names that are not paths are ignored).
    ``flag``: the option that allows replacing an existing output, named in the messages.
    ``make_folders``: the command creates missing parent folders (else they must exist).
    """
    read = _input_paths(inputs)
    seen: dict[Path, str] = {}
    for out in outputs:
        path = _absolute(out.path)
        for alias in {path, Path(os.path.realpath(path))}:
            if alias in seen:
                raise SeaIceInputError(out.option, f"{out.path} is also the output of {seen[alias]}",
                                       "Give each output its own path")
            seen[alias] = out.option
            for source in read:
                if alias == source or _inside(source, alias) or _inside(alias, source):
                    relation = "is" if alias == source else ("contains" if _inside(source, alias) else "lies inside")
                    raise SeaIceInputError(out.option, f"the output {out.path} {relation} the input {source}",
                                           "Write to a path outside the inputs")
        _check_one(out, path, overwrite, flag, make_folders)


def _check_one(out: Output, path: Path, overwrite: bool, flag: str, make_folders: bool) -> None:
    folder = out.kind in FOLDER_KINDS
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            raise SeaIceInputError(out.option, f"{out.path} is a file, not a folder",
                                   "Choose a folder path that does not exist yet")
        if not folder and path.is_dir():
            raise SeaIceInputError(out.option, f"{out.path} is a folder, not a file",
                                   f"Name a file inside it, e.g. {out.path / ('out.' + _suffix(out.kind))}")
        if not (folder and not any(path.iterdir())):  # an empty folder holds nothing to lose
            if not is_ours(path, out.kind):
                raise SeaIceInputError(out.option, f"{out.path} exists and is not {_WHAT[out.kind]}; "
                                       "it is never replaced, whatever the flags",
                                       "Choose another path, or move it away yourself")
            if not overwrite:
                raise SeaIceInputError(out.option, f"{out.path} already exists",
                                       f"Pass {flag} to replace it, or choose another path")
    _check_writable(out, path, make_folders or folder_kind(out.kind))


def _check_writable(out: Output, path: Path, make_folders: bool) -> None:
    parent = path.parent
    if not make_folders and not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise SeaIceInputError(out.option, f"the folder of {out.path} ({parent}) {what}",
                               "Create the folder first, or choose another path")
    existing = next((p for p in [path if path.is_dir() else parent, *parent.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise SeaIceInputError(out.option, f"cannot create {out.path}: {existing} is not a folder",
                               "Choose a path under an existing folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".seaice-explorer-probe"):
            pass
    except OSError as err:
        raise SeaIceInputError(out.option, f"cannot write in {existing} ({err.strerror or err})",
                               "Choose a writable folder") from None


def folder_kind(kind: Kind) -> bool:
    return kind in FOLDER_KINDS


def is_ours(path: Path, kind: Kind) -> bool:
    """Whether ``path`` is something the rule lets ``--overwrite`` replace for an output of ``kind``."""
    try:
        if kind == "netcdf":
            return _netcdf_created_by(path) is not None
        if kind in _MAGIC:
            with open(path, "rb") as fh:
                return fh.read(8).startswith(_MAGIC[kind])
        if kind == "mp4":
            with open(path, "rb") as fh:
                return fh.read(8)[4:8] == b"ftyp"
        if kind == "report":
            return json.loads((path / MARKER_FILE).read_text()).get("kind") == "report"
        if kind == "store":
            fmt = json.loads((path / ".zattrs").read_text()).get("store_format", "")
            return isinstance(fmt, str) and fmt.startswith("seaice-explorer")
        if kind == "checkpoint":
            complete = (path / "config.json").is_file() and (path / "model.safetensors").is_file()
            return complete or {p.name for p in path.iterdir()} <= CHECKPOINT_FILES
    except (OSError, ValueError, AttributeError):
        return False
    return False


def _netcdf_created_by(path: Path) -> str | None:
    import netCDF4  # a header read only: no variable is decoded

    try:
        with netCDF4.Dataset(path, "r") as nc:
            value = getattr(nc, CREATED_BY, None)
    except OSError:
        return None
    return value if isinstance(value, str) and value.startswith("seaice-explorer") else None


def mark_folder(path: Path, kind: Kind, command: str) -> None:
    """Mark ``path`` as a folder of ``kind`` written by ``command`` (what lets --overwrite replace it)."""
    with atomic_file(path / MARKER_FILE) as tmp:
        tmp.write_text(json.dumps({"kind": kind, "created_by": f"seaice-explorer {command}"}) + "\n")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds, else delete it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` (checked by :func:`check_outputs`)
    only once the block succeeded, else it is deleted and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)


def _suffix(kind: Kind) -> str:
    return {"netcdf": "nc"}.get(kind, kind)


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def _inside(child: Path, parent: Path) -> bool:
    return child != parent and parent in child.parents


def _input_paths(inputs: Iterable[object]) -> list[Path]:
    """The existing paths among ``inputs`` (globs expanded, links followed too); names are skipped."""
    paths: list[Path] = []
    for item in inputs:
        if item is None:
            continue
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        if text is None:
            continue
        matches = glob.glob(os.path.expanduser(text)) if glob.has_magic(text) else [text]
        for match in matches:
            if os.path.exists(match):
                paths.append(_absolute(match))
                paths.append(Path(os.path.realpath(match)))
    return list(dict.fromkeys(paths))


def option_paths(pairs: Iterable[tuple[str, object, Kind]]) -> list[Output]:
    """``[(option, path or None, kind)]`` -> the outputs that are set."""
    return [Output(Path(os.fspath(p)), kind, option) for option, p, kind in pairs if p is not None]

