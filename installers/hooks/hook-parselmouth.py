"""PyInstaller hook: praat-parselmouth (one extension module with Praat built in).

Nothing to collect beyond the extension itself; keep its metadata so the version shows in
prosody reports, and numpy (which it imports from C) explicitly.
"""

from PyInstaller.utils.hooks import copy_metadata

hiddenimports = ["numpy"]
datas = copy_metadata("praat-parselmouth")
