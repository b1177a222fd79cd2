"""Placeholder: this module registers its stage kinds with dsp.chain.register."""
