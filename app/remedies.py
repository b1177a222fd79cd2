"""What to do about an error, in each front end's own words.

``dsp`` errors name a remedy neutrally (:data:`dsp.errors.REMEDIES`); the command line says it
with flags, the workstation with its buttons. :func:`explain` is the message a user sees.
"""

from __future__ import annotations

from dsp.errors import GIVE_NOISE_REGION, LEARN_PROFILE_AGAIN, NEEDS_PROFILE

#: The command line's words for each remedy.
CLI = {
    NEEDS_PROFILE: "learn one (--learn A-B), find one automatically (--auto-profile) or load one (--profile room.json)",
    LEARN_PROFILE_AGAIN: "roomtone profile IN --learn A-B -o room.json, or clean with --auto-profile",
    GIVE_NOISE_REGION: "name a stretch where nobody speaks with --learn A-B, or load a profile with --profile room.json",
}
#: The workstation's words for each remedy (its Room tone panel's buttons).
GUI = {
    NEEDS_PROFILE: "select a pause and press \u201cLearn from selection\u201d (Ctrl+L), or \u201cFind automatically\u201d "
                   "or \u201cLoad\u2026\u201d in the Room tone panel",
    LEARN_PROFILE_AGAIN: "learn it again from this recording in the Room tone panel (\u201cLearn from selection\u201d "
                         "or \u201cFind automatically\u201d)",
    GIVE_NOISE_REGION: "select a stretch where nobody speaks and press \u201cLearn from selection\u201d (Ctrl+L), "
                       "or \u201cLoad\u2026\u201d a saved profile",
}
_WORDS = {"cli": CLI, "gui": GUI}


def explain(exc: BaseException, front: str = "cli") -> str:
    """``exc``'s message, followed by its remedy in the words of ``front`` (``"cli"`` or ``"gui"``)."""
    text = str(exc)
    words = _WORDS[front].get(getattr(exc, "remedy", None))
    return f"{text}: {words}" if words else text
