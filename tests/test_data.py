"""The MNIST data layer: parsing, verification, cache, the mirror's unpickler, the CLI."""

from __future__ import annotations

import gzip
import io
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistedge import data as data_mod
from mnistedge.cli import app
from mnistedge.data import CANONICAL_CHECKSUMS, load_mnist, representative_indices
from mnistedge.data.idx import decode_idx, encode_idx_header, idx_checksums
from mnistedge.data.mirror import read_mnist_pickle

STREAM_FILES = {
    "train-images-idx3-ubyte": "x_train",
    "train-labels-idx1-ubyte": "y_train",
    "t10k-images-idx3-ubyte": "x_test",
    "t10k-labels-idx1-ubyte": "y_test",
}


def idx_bytes(array: np.ndarray) -> bytes:
    return encode_idx_header(array) + np.ascontiguousarray(array).tobytes()


def write_idx_dir(directory: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, key in STREAM_FILES.items():
        raw = idx_bytes(arrays[key])
        (directory / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
    return directory


def tiny_arrays(tiny_data) -> dict[str, np.ndarray]:
    return {k: getattr(tiny_data, k) for k in STREAM_FILES.values()}


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_directory_loads_with_a_notice(tmp_path, tiny_data, gz):
    directory = write_idx_dir(tmp_path / "idx", tiny_arrays(tiny_data), gz=gz)
    with pytest.warns(UserWarning, match="not the canonical MNIST"):
        loaded = load_mnist(directory)
    np.testing.assert_array_equal(loaded.x_train, tiny_data.x_train)
    np.testing.assert_array_equal(loaded.y_test, tiny_data.y_test)
    assert loaded.canonical is False
    assert loaded.checksums["train-images"] == idx_checksums(tiny_data.x_train)
    assert loaded.source == f"path:{directory}"


def test_npz_loads(tiny_npz, tiny_data):
    with pytest.warns(UserWarning):
        loaded = load_mnist(tiny_npz)
    np.testing.assert_array_equal(loaded.x_test, tiny_data.x_test)
    assert loaded.y_train.dtype == np.uint8


def test_idx_checksums_match_the_bytes_on_disk(tiny_data):
    import hashlib

    raw = idx_bytes(tiny_data.x_train)
    assert idx_checksums(tiny_data.x_train)["md5"] == hashlib.md5(raw).hexdigest()
    np.testing.assert_array_equal(decode_idx(raw, "mem"), tiny_data.x_train)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw[:-100], "truncated"),
        (lambda raw: raw + b"\0", "trailing bytes"),
        (lambda raw: b"\x01\x02" + raw[2:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "type 0x0d is not supported"),
        (lambda raw: raw[:6], "truncated IDX header"),
        (lambda raw: b"", "not an IDX file"),
    ],
    ids=["truncated", "trailing", "magic", "dtype", "header", "empty"],
)
def test_bad_idx_files_give_clear_errors(tmp_path, tiny_data, mutate, message):
    directory = write_idx_dir(tmp_path / "idx", tiny_arrays(tiny_data))
    target = directory / "t10k-images-idx3-ubyte"
    target.write_bytes(mutate(target.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        load_mnist(directory)
    assert str(target) in str(info.value)


def test_truncated_gzip_is_a_clear_error(tmp_path, tiny_data):
    directory = write_idx_dir(tmp_path / "idx", tiny_arrays(tiny_data), gz=True)
    target = directory / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:20])
    with pytest.raises(ValueError, match="corrupted or truncated gzip"):
        load_mnist(directory)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"\x93NUMPY"])
def test_corrupted_npz_is_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.npz: corrupted or truncated npz"):
        load_mnist(path)


def test_npz_missing_keys_and_bad_labels(tmp_path, tiny_data):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=tiny_data.x_train)
    with pytest.raises(ValueError, match=r"lacks \['y_train', 'x_test', 'y_test'\]"):
        load_mnist(path)
    arrays = tiny_arrays(tiny_data)
    arrays["y_test"] = arrays["y_test"].astype(np.int64) + 5
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"y_test must hold digits 0-9"):
        load_mnist(path)


def test_missing_source_path():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist("/nonexistent/mnist")


def test_representative_indices_are_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 100)
    picked = representative_indices(labels, 500, seed=3)
    assert len(picked) == len(set(picked.tolist())) == 500
    assert np.bincount(labels[picked], minlength=10).tolist() == [50] * 10
    np.testing.assert_array_equal(picked, representative_indices(labels, 500, seed=3))
    assert not np.array_equal(picked, representative_indices(labels, 500, seed=4))
    with pytest.raises(ValueError, match="n must be in"):
        representative_indices(labels, 0)


# --- the mirror's pickle -----------------------------------------------------------------------


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    payload = gzip.compress(pickle.dumps(((_Exploit(marker), 1), (2, 3), (4, 5)), protocol=2))
    with pytest.raises(ValueError, match=r"refused to load global (posix|os)\.system"):
        read_mnist_pickle(payload, "evil.pkl.gz")
    assert not marker.exists()


def test_object_arrays_are_refused():
    payload = gzip.compress(pickle.dumps(np.array([object()], dtype=object), protocol=2))
    with pytest.raises(ValueError, match="unsafe or invalid pickle"):
        read_mnist_pickle(payload, "obj.pkl.gz")


def test_mnist_pickle_layout_roundtrip():
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, size=(n, 784)).astype(np.uint8) for n in (5, 3, 4)]
    labels = [rng.integers(0, 10, size=n) for n in (5, 3, 4)]
    splits = tuple((p.astype(np.float32) / 256, y) for p, y in zip(pixels, labels, strict=True))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as fh:
        pickle.dump(splits, fh, protocol=2)
    decoded = read_mnist_pickle(buf.getvalue(), "mem")
    np.testing.assert_array_equal(decoded["x_train"].reshape(8, 784), np.concatenate(pixels[:2]))
    np.testing.assert_array_equal(decoded["y_test"], labels[2])


# --- cache and canonical verification (real MNIST) -----------------------------------------------


def _canonical_source(mnist):
    arrays = {k: getattr(mnist, k).copy() for k in STREAM_FILES.values()}
    return [("fake-remote", lambda: {k: v.copy() for k, v in arrays.items()})]


@pytest.mark.integration
def test_real_mnist_is_canonical(mnist):
    assert mnist.canonical
    assert mnist.checksums == CANONICAL_CHECKSUMS
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)


@pytest.mark.integration
def test_corrupted_cache_is_fetched_again(tmp_path, mnist, monkeypatch):
    monkeypatch.setattr(data_mod, "_remote_sources", lambda: _canonical_source(mnist))
    first = load_mnist(cache_dir=tmp_path)
    assert first.source == "fake-remote" and first.cache_path == str(tmp_path / "mnist.npz")
    assert load_mnist(cache_dir=tmp_path).source.startswith("cache:")
    cache = tmp_path / "mnist.npz"
    cache.write_bytes(cache.read_bytes()[:1000])  # truncated
    with pytest.warns(RuntimeWarning, match="cached MNIST is unusable"):
        again = load_mnist(cache_dir=tmp_path)
    assert again.source == "fake-remote" and again.canonical


@pytest.mark.integration
def test_tampered_cache_and_tampered_remote(tmp_path, mnist, monkeypatch):
    tampered = {k: getattr(mnist, k).copy() for k in STREAM_FILES.values()}
    tampered["x_test"][0, 14, 14] ^= 0xFF
    np.savez(tmp_path / "mnist.npz", **tampered)
    monkeypatch.setattr(data_mod, "_remote_sources", lambda: [("evil-remote", lambda: tampered)])
    stale = pytest.warns(RuntimeWarning, match="t10k-images: expected md5 2646ac647ad5339dbf082846283269ea")
    with stale, pytest.raises(ValueError, match="MNIST from evil-remote failed verification") as info:
        load_mnist(cache_dir=tmp_path)
    assert "t10k-images" in str(info.value) and "train-images" not in str(info.value)
    assert not (tmp_path / "mnist.npz").exists()  # the bad cache is gone, nothing bad replaced it


@pytest.mark.integration
def test_tampered_mnist_given_by_path_is_an_error(tmp_path, mnist):
    arrays = {k: getattr(mnist, k) for k in STREAM_FILES.values()}
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][123] = (arrays["y_train"][123] + 1) % 10
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="train-labels: expected md5 a25bea736e30d166cdddb491f175f624"):
        load_mnist(path)


@pytest.mark.integration
def test_concurrent_fetches_leave_one_good_cache(tmp_path, mnist):
    source = tmp_path / "source.npz"
    np.savez(source, **{k: getattr(mnist, k) for k in STREAM_FILES.values()})
    cache_dir = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import time, numpy as np
        from mnistedge import data
        def slow_fetch():
            time.sleep(0.5)
            with np.load({str(source)!r}) as npz:
                return {{k: npz[k] for k in npz.files}}
        data._remote_sources = lambda: [("slow", slow_fetch)]
        print(data.load_mnist(cache_dir=__import__("pathlib").Path({str(cache_dir)!r})).source)
        """
    )
    cmd = [sys.executable, "-c", script]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    sources = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sources.count("slow") == 1  # the lock let one fetch; the others read its cache
    assert sorted(p.name for p in cache_dir.iterdir()) == ["mnist.lock", "mnist.npz"]
    assert load_mnist(cache_dir=cache_dir).canonical


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_data_on_a_tiny_npz(tmp_path, tiny_npz, tiny_data):
    png = tmp_path / "grid.png"
    result = CliRunner().invoke(app, ["data", "--source", str(tiny_npz), "--show-samples", str(png)])
    assert result.exit_code == 0, result.output
    assert "not the canonical MNIST" in result.output
    assert idx_checksums(tiny_data.x_train)["md5"] in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_data_on_a_broken_source(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["data", "--source", str(path)])
    assert result.exit_code == 1
    assert "corrupted or truncated npz" in result.output


@pytest.mark.integration
def test_cli_data_prints_the_canonical_md5s():
    result = CliRunner().invoke(app, ["data"])
    assert result.exit_code == 0, result.output
    for sums in CANONICAL_CHECKSUMS.values():
        assert sums["md5"] in result.output
