"""Bring your own model: foreign MNIST models (NCHW, flat, fixed batch, logits, normalized inputs).

The models are built here with ``onnx.helper`` (no PyTorch, no TensorFlow), like the ONNX model
zoo's mnist-8/12 and a torchvision-trained MLP, and every answer is compared with ONNX Runtime
called by hand on numpy-preprocessed pixels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from foreign_models import by_hand, write_mlp
from PIL import Image

from mnistedge.core.contract import MNISTEDGE_CONVENTION, IOConvention, Normalization
from mnistedge.core.io import sha256_file
from mnistedge.core.manifest import update_manifest
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime import _probe, load
from mnistedge.runtime._convention import convention_for, last_op

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TORCHVISION = {"scale": 1 / 255, "mean": 0.1307, "std": 0.3081}  # ToTensor + Normalize((0.1307,), (0.3081,))
UNIT = {"scale": 1 / 255}  # a model trained on [0, 1] pixels
# name -> (input shape, Reshape target, output batch, ends in Softmax, load() keyword arguments,
#          expected convention). A fixed batch is read from the input, else from the output.
MODELS = {
    "zoo_nchw": (["N", 1, 28, 28], [-1, 784], "N", False, UNIT, ("NCHW", None, "logits")),
    "zoo_nchw_batch1": ([1, 1, 28, 28], [1, 784], 1, False, UNIT, ("NCHW", 1, "logits")),  # like mnist-8
    "zoo_reshape_batch1": (["N", 1, 28, 28], [1, 784], 1, False, UNIT, ("NCHW", 1, "logits")),
    "torchvision_nchw": (["batch", 1, 28, 28], [-1, 784], "N", False, TORCHVISION, ("NCHW", None, "logits")),
    "flat_softmax": (["N", 784], [-1, 784], "N", True, UNIT, ("flat", None, "probabilities")),
    "nhw_batch4": ([4, 28, 28], [4, 784], "N", False, TORCHVISION, ("NHW", 4, "logits")),
}
BATCH_SIZES = (1, 3, 7, 64)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("byom")
    return {
        name: write_mlp(folder / f"{name}.onnx", shape, reshape, softmax=softmax, output_batch=out, seed=i)
        for i, (name, (shape, reshape, out, softmax, _, _)) in enumerate(MODELS.items())
    }


@pytest.mark.parametrize("name", MODELS)
def test_foreign_models_match_onnxruntime_by_hand(name: str, foreign, tiny_data) -> None:
    *_, ends_in_softmax, kwargs, (layout, batch, output) = MODELS[name]
    clf = load(foreign[name], **kwargs)
    assert clf.info.convention == IOConvention(layout, batch, output, Normalization(**kwargs))
    for n in BATCH_SIZES:
        images = tiny_data.x_test[:n]
        expected = by_hand(foreign[name], images, **kwargs, softmax=not ends_in_softmax, fixed=batch)
        proba = clf.predict_proba(images)
        assert proba.shape == (n, 10) and proba.dtype == np.float32
        np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5, err_msg=f"batch {n}")
        np.testing.assert_array_equal(clf.predict(images), expected.argmax(axis=1), err_msg=f"batch {n}")
        if not ends_in_softmax:
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["zoo_reshape_batch1", "torchvision_nchw", "nhw_batch4"])
def test_every_image_form_gives_the_same_answer(name: str, foreign, tiny_data) -> None:
    clf = load(foreign[name], **MODELS[name][4])
    x = tiny_data.x_test[:5]
    expected = clf.predict_proba(x)
    for images in (x[..., None], x.reshape(5, 784), np.asfortranarray(x)):
        np.testing.assert_array_equal(clf.predict_proba(images), expected)
    np.testing.assert_allclose(clf.predict_proba((x / 255.0).astype(np.float32)), expected, atol=1e-5)
    np.testing.assert_array_equal(clf.predict_proba(x[0]), expected[:1])


def test_output_kind_can_be_overridden(foreign, artifacts, tiny_data) -> None:
    x = tiny_data.x_test[:9]
    path = foreign["flat_softmax"]
    probabilities = load(path, scale=1 / 255).predict_proba(x)
    as_logits = load(path, scale=1 / 255, output="logits")  # softmax applied on top
    assert as_logits.info.convention.output == "logits"
    e = np.exp(probabilities.astype(np.float64) - probabilities.max(axis=1, keepdims=True))
    np.testing.assert_allclose(as_logits.predict_proba(x), e / e.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(as_logits.predict(x), probabilities.argmax(axis=1))
    raw = load(foreign["zoo_nchw"], scale=1 / 255, output="probabilities").predict_proba(x)
    np.testing.assert_allclose(raw, by_hand(foreign["zoo_nchw"], x, 1 / 255, softmax=False), atol=1e-5)
    own = load(artifacts["model_int8.tflite"], output="logits")  # LiteRT too
    assert own.info.convention.output == "logits"
    q = load(artifacts["model_int8.tflite"]).predict_proba(x).astype(np.float64)
    np.testing.assert_allclose(own.predict_proba(x), np.exp(q) / np.exp(q).sum(1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError, match=r"kind 'scores'\. Valid kinds are: probabilities, logits"):
        load(path, output="scores")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"std": 0}, r"std=0 would divide by zero; pass the std the model was trained with"),
        ({"scale": 0}, r"scale=0.0 must be > 0 .*use 1 for a model taking raw pixels, or 1/255"),
        ({"scale": -1 / 255}, r"scale=-0.0039\d+ must be > 0"),
        ({"mean": float("nan")}, r"normalization mean=nan is not a finite number"),
        ({"std": float("inf")}, r"normalization std=inf is not a finite number"),
        ({"scale": "1/255"}, r"normalization scale must be a number, got '1/255' \(str\); e.g. scale=1/255"),
        ({"mean": True}, r"normalization mean must be a number, got True"),
    ],
)
def test_bad_normalization_says_what_and_how_to_fix(kwargs, message: str, foreign) -> None:
    with pytest.raises(ValueError, match=message):
        load(foreign["torchvision_nchw"], **kwargs)
    with pytest.raises(ValueError, match=message):
        Normalization(**kwargs)


def test_manifest_normalization_is_the_default_and_arguments_win(foreign, tiny_data, tmp_path) -> None:
    path = tmp_path / "torch.onnx"
    path.write_bytes(foreign["torchvision_nchw"].read_bytes())
    update_manifest(tmp_path, {"file": path.name, "sha256": sha256_file(path), "normalization": TORCHVISION})
    x = tiny_data.x_test[:7]
    clf = load(path)
    assert clf.info.manifest_verified and clf.info.convention.normalization == Normalization(**TORCHVISION)
    np.testing.assert_allclose(clf.predict_proba(x), by_hand(path, x, **TORCHVISION), atol=1e-5)
    only_mean = load(path, mean=0.5).info.convention.normalization  # the rest still from the manifest
    assert only_mean == Normalization(1 / 255, 0.5, 0.3081)
    update_manifest(tmp_path, {"file": path.name, "sha256": sha256_file(path), "normalization": {"std": 0}})
    with pytest.raises(ValueError, match=r"manifest.json: the 'normalization' of torch.onnx is unusable"):
        load(path)
    assert load(path, **TORCHVISION).info.convention.normalization == Normalization(**TORCHVISION)


@pytest.mark.parametrize(
    ("shape", "reshape", "classes", "message"),
    [
        (["N", 3, 32, 32], [-1, 3072], 10, r"input 'Input3' has shape \[N, 3, 32, 32\]"),
        ([1, 28, 28, 3], [1, 2352], 10, r"input 'Input3' has shape \[1, 28, 28, 3\]"),
        (["N", 1, 28, 28], [-1, 784], 5, r"output 'Plus214_Output_0' has shape \[N, 5\]; .* needs \[N, 10\]"),
    ],
)
def test_models_that_cannot_run_say_what_is_accepted(shape, reshape, classes, message, tmp_path) -> None:
    path = write_mlp(tmp_path / "odd.onnx", shape, reshape, softmax=False, classes=classes)
    with pytest.raises(ValueError, match=message) as info:
        load(path, isolate=False)
    text = str(info.value)
    if classes == 10:
        assert "[N, 28, 28, 1] (NHWC), [N, 1, 28, 28] (NCHW), [N, 784] (flat), [N, 28, 28] (NHW)" in text
        assert "Fix: export the model with one of these input shapes" in text
    else:
        assert "Fix: export a 10-class MNIST classifier" in text


@pytest.mark.parametrize("name", ["model.tflite", "model_int8.tflite", "model.onnx", "model_int8.onnx"])
def test_mnistedge_artifacts_keep_their_own_convention(name: str, artifacts, tiny_data) -> None:
    from runtime_fixtures import raw_engine_proba

    manifest = json.loads((artifacts[name].parent / "manifest.json").read_text())
    assert manifest["artifacts"][name]["normalization"] == {"scale": 1.0, "mean": 0.0, "std": 1.0}
    clf = load(artifacts[name])
    assert clf.info.convention == MNISTEDGE_CONVENTION
    assert clf.info.to_dict()["convention"] == {
        "layout": "NHWC", "batch": None, "output": "probabilities",
        "normalization": {"scale": 1.0, "mean": 0.0, "std": 1.0},
    }  # fmt: skip
    expected = raw_engine_proba(artifacts[name], tiny_data.x_test[:20])
    np.testing.assert_allclose(clf.predict_proba(tiny_data.x_test[:20]), expected, rtol=0, atol=1e-6)
    if name.endswith(".tflite"):  # the softmax is found without the XNNPACK delegate too
        assert load(artifacts[name], provider="cpu").info.convention.output == "probabilities"


def test_the_probe_loads_with_the_callers_convention(foreign, tiny_data, monkeypatch) -> None:
    monkeypatch.setattr(_probe, "_passed", set())
    clf = load(foreign["nhw_batch4"], isolate=True, **TORCHVISION)
    (key,) = _probe._passed
    assert json.dumps(Normalization(**TORCHVISION).to_dict()) in key
    expected = by_hand(foreign["nhw_batch4"], tiny_data.x_test[:3], **TORCHVISION, fixed=4)
    np.testing.assert_allclose(clf.predict_proba(tiny_data.x_test[:3]), expected, atol=1e-5)
    load(foreign["nhw_batch4"], isolate=True, output="probabilities", **TORCHVISION)
    assert len(_probe._passed) == 2  # another convention is another probe


@pytest.mark.parametrize(
    ("input_shape", "output_shape", "layout", "batch"),
    [
        ((4, 28, 28), (-1, 10), "NHW", 4),  # a fixed input batch
        ((-1, 1, 28, 28), (1, 10), "NCHW", 1),  # a dynamic input that a Reshape constant fixes
        ((-1, 784), (-1, 10), "flat", None),
        ((1, 28, 28, 1), (-1, -1), "NHWC", 1),  # an unknown class dimension: the self-test checks it
    ],
)
def test_the_batch_comes_from_the_input_else_the_output(input_shape, output_shape, layout, batch) -> None:
    inp, out = TensorSpec("x", input_shape, "float32"), TensorSpec("y", output_shape, "float32")
    found = convention_for("m.onnx", inp, out, normalization=Normalization(), output=None, output_op="Add")
    assert found == IOConvention(layout, batch, "logits", Normalization())


def test_last_op_looks_through_quantize_and_reshape_ops() -> None:
    nodes = [("MatMul", ["x", "w"], ["l"]), ("Softmax", ["l"], ["p"]), ("QuantizeLinear", ["p", "s"], ["q"]),
             ("DequantizeLinear", ["q", "s"], ["y"]), ("Reshape", ["l", "shape"], ["r"])]  # fmt: skip
    assert last_op(nodes, "y") == "Softmax"
    assert last_op(nodes, "r") == "MatMul"
    assert last_op(nodes, "nowhere") is None
    assert last_op([("DEQUANTIZE", [3], [4]), ("SOFTMAX", [2], [3])], 4) == "SOFTMAX"


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``mnistedge`` console script: a real process, so fd 2 is really captured."""
    script = Path(sys.executable).with_name("mnistedge")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300)


def test_cli_predict_prints_only_the_predictions(artifacts, foreign, tiny_data, tmp_path) -> None:
    images = []
    for i in range(2):
        images.append(tmp_path / f"digit{i}.png")
        Image.fromarray(tiny_data.x_test[i]).save(images[-1])
    model = artifacts["model_int8.tflite"]  # LiteRT prints its XNNPACK line from C++ at load
    result = _console("predict", str(model), *map(str, images), "--raw")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    digits = load(model).predict(tiny_data.x_test[:2])
    expected = [f"{path}: {digit}" for path, digit in zip(images, digits, strict=True)]
    assert [line.split("   (top-3")[0] for line in lines] == expected

    zoo = foreign["zoo_nchw_batch1"]  # no manifest: loaded through the probe process
    result = _console("predict", str(zoo), *map(str, images), "--raw", "--scale", "1/255", "--json")
    assert result.returncode == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["info"]["convention"]["layout"] == "NCHW" and doc["info"]["convention"]["batch"] == 1
    digits = load(zoo, scale=1 / 255).predict(tiny_data.x_test[:2])
    assert [r["digit"] for r in doc["results"]] == digits.tolist()
    result = _console("inspect", str(zoo), "--scale", "0.00392156862745098", "--output", "logits", "--json")
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["convention"]["normalization"]["scale"] == 1 / 255
    result = _console("predict", str(zoo), str(images[0]), "--scale", "a/b")
    assert result.returncode == 2
    assert "give a float like 0.00392156862745098 or a fraction like 1/255" in result.stderr
