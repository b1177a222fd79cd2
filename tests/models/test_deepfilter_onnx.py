"""DeepFilterNet3 on onnxruntime: the streamed graphs, libDF's processing, agreement with libDF."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import soundfile as sf

from dsp.render import render_array
from models import deepfilter as dfn
from models import deepfilter_onnx as dfo
from models import ml_denoise
from models.ml_denoise import DeepFilterProcessor, resolve_backend
from models.versions import DFN_MODEL, ModelUnavailable, verified_model_path

pytestmark = pytest.mark.model  # needs a learned model package

OK_ONNX, WHY_ONNX = dfo.availability()
OK_LIBDF, WHY_LIBDF = dfn.availability()
needs_onnx = pytest.mark.skipif(not OK_ONNX, reason=f"onnx backend unavailable: {WHY_ONNX}")
needs_both = pytest.mark.skipif(not (OK_ONNX and OK_LIBDF), reason=f"{WHY_ONNX} {WHY_LIBDF}")
CHUNK = dfo.OnnxDeepFilterState.frame_length


def _rel_db(a, ref):
    return 10 * np.log10(np.sum((a - ref) ** 2) / np.sum(ref**2))


@pytest.fixture(scope="module")
def podcast10(dev_data):
    x, sr = sf.read(dev_data / "podcast" / "podcast_dev_2min_noisy.flac", dtype="float32", frames=480000)
    assert sr == 48000
    return x


# -- libDF's constants, recomputed -----------------------------------------------------------------
def test_erb_bands_and_norm_constant():
    w = dfo.erb_widths(48000, 960, 32, 2)
    assert w.sum() == 481 and w.size == 32 and w.min() >= 2
    assert list(w[:13]) == [2] * 13  # the low bands are held at min_nb_erb_freqs
    assert np.all(np.diff(w[12:]) >= 0)  # ERB bands widen with frequency
    assert dfo.norm_alpha(48000, 480, 1.0) == np.float32(0.99)  # exp(-0.01) = 0.99005 -> 0.99


# -- the graph editing -------------------------------------------------------------------------------
@needs_onnx
@pytest.mark.parametrize("graph", ["enc", "df_dec"])
def test_streamed_graph_equals_the_whole_sequence_run(graph):
    """The edited graph fed chunk by chunk with its returned state equals the original graph
    run over the whole sequence (which starts from zero state)."""
    import onnxruntime as ort

    with tarfile.open(verified_model_path(*DFN_MODEL, what="test")) as tf:
        raw = next(tf.extractfile(m).read() for m in tf.getmembers() if m.name.endswith(f"/{graph}.onnx"))
    plain = ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    t = 40
    if graph == "enc":
        feeds = {"feat_erb": rng.standard_normal((1, 1, t, 32)).astype(np.float32) * 0.3,
                 "feat_spec": rng.standard_normal((1, 2, t, 96)).astype(np.float32) * 0.5}
        time_axis = {"emb": 1, "lsnr": 1}
    else:
        feeds = {"emb": rng.standard_normal((1, t, 512)).astype(np.float32) * 0.5,
                 "c0": rng.standard_normal((1, 64, t, 96)).astype(np.float32) * 0.5}
        time_axis = {"coefs": 1}
    g = dfo.load_model().graphs[graph]
    names = list(g.outputs)
    whole = dict(zip(names, plain.run(names, feeds), strict=True))
    state = g.zero_state()
    parts = {n: [] for n in names}
    for a in range(0, t, 16):  # 16, 16, 8 frames
        chunk = {k: (v[:, a : a + 16] if v.ndim == 3 else v[:, :, a : a + 16]) for k, v in feeds.items()}
        outs, state = g.run(chunk, state)
        for n, o in zip(names, outs, strict=True):
            parts[n].append(o)
    for n in names:
        got = np.concatenate(parts[n], axis=time_axis.get(n, 2))
        np.testing.assert_allclose(got, whole[n], rtol=1e-4, atol=2e-5, err_msg=n)
    # the edit is not a no-op: a zero state fed mid-stream gives a different result
    outs_cold, _ = g.run({k: (v[:, 16:32] if v.ndim == 3 else v[:, :, 16:32]) for k, v in feeds.items()}, g.zero_state())
    assert not np.allclose(outs_cold[0], parts[names[0]][1], atol=1e-3)


@needs_onnx
def test_unexpected_graph_is_refused():
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    relu = helper.make_node("Relu", ["x"], ["r"])
    pad = helper.make_node("Pad", ["r", "pads"], ["y"], mode="constant")  # pads a computed tensor
    pads = onnx.numpy_helper.from_array(np.array([0, 0, 2, 0, 0, 0, 0, 0], np.int64), "pads")
    model = helper.make_model(helper.make_graph([relu, pad], "g", [x], [y], [pads]))
    with pytest.raises(ModelUnavailable, match="not a graph input"):
        dfo.stream_graph(model)


# -- agreement with libDF ---------------------------------------------------------------------------
@needs_both
@pytest.mark.slow
@pytest.mark.parametrize("cap", [12.0, 100.0])
def test_equals_libdf_on_speech(podcast10, cap):
    x = podcast10[: 6 * 48000]
    ref = dfn.enhance(x, atten_lim_db=cap)
    got = dfn.enhance(x, atten_lim_db=cap, state_cls=dfo.OnnxDeepFilterState)
    assert _rel_db(got, ref) < -90.0
    assert np.max(np.abs(got - ref)) < 1e-4
    # and it is not the input: the model did remove noise
    assert _rel_db(got, x) > -30.0


@needs_both
@pytest.mark.slow
def test_processor_backends_agree_at_44100(podcast10):
    from scipy.signal import resample_poly

    x = resample_poly(podcast10[: 3 * 48000], 147, 160).astype(np.float32)[None, :]
    a = render_array(x, 44100, DeepFilterProcessor(backend="onnx"))
    b = render_array(x, 44100, DeepFilterProcessor(backend="libdf"))
    assert _rel_db(a, b) < -90.0


@needs_onnx
def test_silence_and_cap_edges():
    st = dfo.OnnxDeepFilterState(100.0)
    y = st.process(np.zeros(2 * CHUNK, np.float32))
    assert np.all(y == 0.0) and st.frames_processed == 32
    with pytest.raises(ValueError, match="7680-sample chunks"):
        st.process(np.zeros(480, np.float32))
    st.set_atten_lim(6.0)
    assert st.atten_lim_db == 6.0
    st.close()
    with pytest.raises(RuntimeError, match="closed"):
        st.process(np.zeros(CHUNK, np.float32))


@needs_onnx
def test_reset_in_place_equals_a_new_state(podcast10):
    x = podcast10[: 4 * CHUNK]
    st = dfo.OnnxDeepFilterState(12.0)
    st.process(podcast10[48000 : 48000 + 3 * CHUNK].copy())
    st.reset()
    np.testing.assert_array_equal(st.process(x), dfo.OnnxDeepFilterState(12.0).process(x))


# -- backend choice -----------------------------------------------------------------------------------
def test_backend_resolution(monkeypatch):
    monkeypatch.setattr(dfo, "availability", lambda: (True, ""))
    monkeypatch.setattr(dfn, "availability", lambda: (True, ""))
    assert resolve_backend("auto") == "onnx" and resolve_backend("libdf") == "libdf"
    monkeypatch.setattr(dfo, "availability", lambda: (False, "onnx is not installed"))
    assert resolve_backend("auto") == "libdf"  # falls back to the C runtime
    with pytest.raises(ModelUnavailable, match="onnx is not installed"):
        resolve_backend("onnx")
    monkeypatch.setattr(dfn, "availability", lambda: (False, "no libdeepfilter"))
    with pytest.raises(ModelUnavailable, match="onnx is not installed; no libdeepfilter"):
        resolve_backend("auto")
    with pytest.raises(Exception, match="backend must be one of"):
        resolve_backend("cuda")
    with pytest.raises(Exception, match="backend must be one of"):
        ml_denoise.DeepFilterSettings(backend="tract").validate()


@needs_onnx
def test_missing_onnx_package_is_reported(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(dfo, "_MODEL", None)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    ok, why = dfo.availability()
    assert not ok and "onnx and onnxruntime" in why and "backend 'libdf'" in why


@needs_onnx
def test_tar_without_graphs_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "model.tar.gz"
    with tarfile.open(bad, "w:gz") as tf:
        data = b"[df]\nsr = 48000\n"
        info = tarfile.TarInfo("export/config.ini")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(dfo, "_MODEL", None)
    monkeypatch.setattr(dfo, "verified_model_path", lambda *a, **k: bad)
    ok, why = dfo.availability()
    assert not ok and "lacks enc.onnx, erb_dec.onnx, df_dec.onnx" in why


@needs_onnx
def test_render_record_names_the_backend_that_ran(tmp_path):
    import json
    from pathlib import Path

    from app import pipeline
    from app.presets import load_preset

    demo = Path(__file__).resolve().parents[2] / "assets" / "demo" / "demo_episode.flac"
    out = tmp_path / "demo_ml.flac"
    pipeline.clean_file(demo, out, load_preset("podcast-ml"), auto_profile=True)
    meta = json.loads(pipeline.record_path(out).read_text())
    stage = next(p for p in meta["chain"]["wet"]["processors"] if p["type"] == "DeepFilterNet3")
    assert stage["type"] == "DeepFilterNet3" and stage["backend"] == "auto" and stage["runs_on"] == "onnx"
    assert stage["model"]["sha256"] and meta["versions"]["models"]["onnx"]  # graphs edited by this onnx


def test_preload_loads_once_and_never_raises(monkeypatch):
    monkeypatch.setattr(dfo, "availability", lambda: (False, "onnx is not installed"))
    monkeypatch.setattr(dfn, "availability", lambda: (False, "no libdeepfilter"))
    assert ml_denoise.preload() is None  # unavailable: says nothing, the chain build will
    monkeypatch.undo()
    if OK_ONNX:
        assert ml_denoise.preload() == "onnx" and dfo._MODEL is not None
