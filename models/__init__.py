"""Learned models: voice activity, the DeepFilterNet3 pass, prosody analyses.

Importing this package turns onnxruntime's usage telemetry off for the process, before any
module here imports onnxruntime (rule 3: nothing reaches the network at run time). Since 1.29,
onnxruntime on Linux and macOS writes a device id under ``~/.cache/Microsoft/DeveloperTools``
and uploads usage events from a background thread unless told not to. Measured with 1.32.0 in
the frozen app: 6 AF_INET/AF_INET6 sockets per run without the variables below, none with
``ORT_DISABLE_TELEMETRY=1`` (``ORT_TELEMETRY_DISABLED`` is the name its later sources read).
"""

import os

for _name in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):
    os.environ[_name] = "1"
del _name
