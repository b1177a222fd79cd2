"""The Qt-free session model: Project (an immutable value), History (undo), Session (the one
mutator), background Jobs and Autosave. Nothing here imports Qt; ``app.qt`` binds to it."""

from app.session.autosave import Autosave, state_dir
from app.session.history import History, Step
from app.session.jobs import Job, JobRunner
from app.session.project import (
    PROJECT_FORMAT,
    PROJECT_SUFFIX,
    PROJECT_VERSION,
    FrozenMap,
    Project,
    Selection,
    SourceProblem,
    SourceRef,
    default_chain,
    hash_file,
    load_project,
    project_versions,
    register_version_provider,
    relink,
    save_project,
)
from app.session.session import (
    FIND_LABEL,
    Session,
    build_processor,
    estimate_profile,
    learn_label,
    loudness_label,
    loudness_menu,
    render_project,
)

__all__ = [
    "FIND_LABEL", "PROJECT_FORMAT", "PROJECT_SUFFIX", "PROJECT_VERSION", "Autosave", "FrozenMap",
    "History", "Job", "JobRunner", "Project", "Selection", "Session", "SourceProblem", "SourceRef",
    "Step", "build_processor", "default_chain", "estimate_profile", "hash_file", "learn_label", "loudness_label", "loudness_menu",
    "load_project", "project_versions", "register_version_provider", "relink", "render_project",
    "save_project", "state_dir",
]
