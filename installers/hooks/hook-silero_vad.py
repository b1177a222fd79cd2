"""PyInstaller hook: silero-vad's packaged models (nothing is downloaded at run time).

Roomtone never imports ``silero_vad`` (its ``__init__`` imports torch); ``models.vad`` finds the
package folder with ``find_spec`` and loads the model files listed in ``assets/models.sha256``.
Collect exactly those files (the wheel ships eight models, 10 MB+), the package's metadata for
its version, and the package itself so ``find_spec`` finds it. The TorchScript fallback model is
collected only when torch is frozen too (``ROOMTONE_FREEZE_TORCH=1``); by default the app runs
silero's ONNX export through onnxruntime.
"""

import os
from pathlib import Path

from PyInstaller.utils.hooks import copy_metadata, get_package_paths

_ROOT = Path(os.environ.get("ROOMTONE_SOURCE_ROOT", Path(__file__).resolve().parents[2]))
_WITH_TORCH = os.environ.get("ROOMTONE_FREEZE_TORCH", "0") == "1"

_pkg_base, _pkg_dir = get_package_paths("silero_vad")
datas = copy_metadata("silero-vad")
for line in (_ROOT / "assets" / "models.sha256").read_text(encoding="utf-8").splitlines():
    parts = line.split()
    if len(parts) != 2 or line.lstrip().startswith("#") or not parts[1].startswith("silero_vad/"):
        continue
    rel = parts[1][len("silero_vad/") :]
    if rel.endswith(".jit") and not _WITH_TORCH:
        continue
    datas.append((os.path.join(_pkg_dir, rel), os.path.dirname(os.path.join("silero_vad", rel))))

# silero_vad/__init__.py imports torch and its model helpers; none of it runs in Roomtone.
excludedimports = [] if _WITH_TORCH else ["torch", "torchaudio", "tinygrad", "safetensors"]
