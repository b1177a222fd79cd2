"""Solo a stage: the reference chain the monitor subtracts to play one stage's contribution.

Listening ``solo`` on stage ``k`` plays ``chain_without_k(x) - chain(x)``: exactly what stage
``k`` takes away (or adds, with the opposite sign) in the context of the whole chain, with
every other stage and the total-reduction cap as they are. Both chains run from the same
playhead with preroll, so the difference is time-aligned sample for sample.
"""

from __future__ import annotations

from dataclasses import replace

from dsp.chain import ChainSettings
from dsp.errors import ParameterError


def without_stage(settings: ChainSettings, index: int) -> ChainSettings:
    """``settings`` with stage ``index`` bypassed (the solo reference chain)."""
    if not 0 <= index < len(settings.stages):
        raise ParameterError(f"cannot solo stage {index}: the chain has {len(settings.stages)} stages")
    stages = list(settings.stages)
    stages[index] = replace(stages[index], bypass=True)
    return replace(settings, stages=tuple(stages), listen="processed")
