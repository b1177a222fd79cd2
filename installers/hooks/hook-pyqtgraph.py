"""PyInstaller hook: pyqtgraph for PySide6 only (replaces the contrib hook).

Collects its data (colour maps, icons) without the examples, the ``Template`` UI modules that
pyqtgraph imports by name at run time (PySide6 flavour only), and the multiprocess bootstrap.
Leaves out what Roomtone does not use: the examples, 3D (``pyqtgraph.opengl`` needs PyOpenGL),
other Qt bindings, and the optional matplotlib/IPython/Jupyter/HDF5/cupy integrations.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

datas = collect_data_files("pyqtgraph", excludes=["**/examples/*", "**/opengl/*", "**/*.ui"])

_skip = ("pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter")
_all = collect_submodules("pyqtgraph", filter=lambda name: not name.startswith(_skip))
_other_bindings = ("pyqt5", "pyqt6", "pyside2")
hiddenimports = [
    n for n in _all if "Template" in n and not any(b in n.lower() for b in _other_bindings)
]
hiddenimports += ["pyqtgraph.multiprocess.bootstrap"]

excludedimports = [
    "pyqtgraph.examples",
    "pyqtgraph.opengl",
    "pyqtgraph.jupyter",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "OpenGL",
    "matplotlib",
    "IPython",
    "jupyter_rfb",
    "h5py",
    "cupy",
]
