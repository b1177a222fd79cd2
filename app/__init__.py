"""The application layer: CLI, pipeline, session model, monitoring, batch and the Qt workstation.

Importing it makes the learned models' stage kinds (the DeepFilterNet3 pass) available to the
stage registry; ``dsp`` itself never imports ``models``.
"""

from dsp.chain import extend_stage_modules

extend_stage_modules("models.ml_denoise")
