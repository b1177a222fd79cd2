"""The Dask path: the same worker function on a LocalCluster of 2 processes, bit-identical outputs."""

from __future__ import annotations

import hashlib
import logging

import pytest

from app.batch.runner import BatchRunner
from app.batch.worker import BatchOptions
from app.presets import load_preset
from tests.app.batch.conftest import make_folder

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_local_cluster_matches_local_pool(dev_data, tmp_path):
    src = make_folder(dev_data, tmp_path, bad=True)
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), hole_audit=False)
    local = BatchRunner(src, tmp_path / "local", opts, workers=2).run()
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        seen = []
        dask = BatchRunner(src, tmp_path / "dask", opts, client=client, on_update=seen.append).run()
    assert (local.done, local.failed) == (dask.done, dask.failed) == (2, 2)
    for rel in ("ep01.flac", "season1/ep02.flac"):
        a = hashlib.sha256((tmp_path / "local" / rel).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / "dask" / rel).read_bytes()).hexdigest()
        assert a == b, rel
    assert (tmp_path / "dask" / "report" / "index.html").is_file()
    assert any(f.status == "running" and 0 < f.fraction < 1 for p in seen for f in p.files), "no per-file progress from Dask"
