"""Fuzzing the inputs a user hands us: seeded random mutations (byte flips, truncations, inserted bytes) of a valid
.tflite, .keras, FER2013 CSV and .npz go through `estimate`, `firmware`, `export` and `data inspect`.

Every run must end with exit code 0 or 2 and at most one `error:` line: never a traceback, never a signal. The
in-process runs would die with the test process on a signal; the parsers that can crash (TFLite Micro, the
TFLite interpreter, HDF5) run in child processes, and a few runs go through a real `python -m compress` too.
"""
import io
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compress import cli

ROOT = Path(__file__).resolve().parents[1]
TFLITE = ROOT / "models" / "model_int8.tflite"  # the committed int8 model (18 KB, 10 ops)
SEED = 13


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random byte flips, a truncation, or one to eight inserted random bytes."""
    out = bytearray(data)
    kind = rng.choice(("flip", "flip", "truncate", "insert"))
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == "truncate":
        del out[rng.randrange(len(out)):]
    else:
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(out)


def fer_csv() -> bytes:
    """30 FER2013 rows (angry / happy alternating; 20 Training, 5 PublicTest, 5 PrivateTest) of one-digit pixels."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i in range(30):
        usage = "Training" if i < 20 else ("PublicTest" if i < 25 else "PrivateTest")
        rows.append(f"{3 * (i % 2)},{' '.join(str(v) for v in rng.integers(0, 10, 48 * 48))},{usage}")
    return ("\n".join(rows) + "\n").encode()


def npz_bytes(compressed: bool) -> bytes:
    """40 gray 16x16 images of two classes with class names (np.savez or np.savez_compressed)."""
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(
        buffer, x=rng.integers(0, 256, (40, 16, 16), dtype=np.uint8), y=np.arange(40) % 2,
        class_names=np.array(["calm", "excited"]))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory) -> bytes:
    """A tiny Conv/Dense .keras model for 16x16x1 images and two classes."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(2),
                              keras.layers.Softmax()])
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    model.save(path)
    return path.read_bytes()


def rezipped(mutate_member: str):
    """A mutation of one member of a zip (.keras, .npz) written back with a fresh checksum: the corruption then
    gets past zipfile's CRC check to the parsers behind it (JSON, HDF5, numpy's header, the pixel checks)."""
    def mutate_inside(data: bytes, rng: random.Random) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
            for item in old.infolist():
                member = old.read(item)
                new.writestr(item, mutate(member, rng) if item.filename == mutate_member else member)
        return out.getvalue()
    return mutate_inside


def run(argv: list[str], capsys, what: str) -> int:
    """cli.main in this process; fail on an exception, a traceback, an exit code other than 0 or 2, or more than
    one error line."""
    try:
        code = cli.main(argv)
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: every way out but a return is a failure
        pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
    _, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code in (0, 2) and len(lines) <= (code == 2) and "Traceback" not in err, f"{what}: exit {code}: {err}"
    return code


def fuzz(base: bytes, name: str, argv, count: int, tmp_path: Path, capsys, seed: int, how=mutate) -> dict:
    """`count` mutations of `base` written as tmp/<i>/<name>, each run through argv(path, folder); exit codes."""
    rng, codes = random.Random(seed), {}
    for i in range(count):
        folder = tmp_path / str(i)
        folder.mkdir()
        path = folder / name
        path.write_bytes(how(base, rng))
        code = run(argv(str(path), folder), capsys, f"mutation {i} (seed {seed}) of {name}")
        codes[code] = codes.get(code, 0) + 1
    return codes


def test_the_unmutated_files_are_accepted(keras_file, tmp_path, capsys):
    """The fuzz starts from files every command takes: exit 0 for each, so the exit 2s below come from mutations."""
    (tmp_path / "m.tflite").write_bytes(TFLITE.read_bytes())
    (tmp_path / "faces.csv").write_bytes(fer_csv())
    (tmp_path / "d.npz").write_bytes(npz_bytes(True))
    (tmp_path / "tiny.keras").write_bytes(keras_file)
    assert run(["estimate", str(tmp_path / "m.tflite")], capsys, "estimate") == 0
    assert run(["firmware", str(tmp_path / "m.tflite"), "--out", str(tmp_path / "fw")], capsys, "firmware") == 0
    assert run(["estimate", str(tmp_path / "tiny.keras")], capsys, "estimate keras") == 0
    for data in ("faces.csv", "d.npz"):
        assert run(["data", "inspect", str(tmp_path / data), "--out", str(tmp_path)], capsys, data) == 0


def test_fuzzed_tflite_through_the_python_readers(tmp_path):
    """300 mutations through what estimate and firmware read before any interpreter runs (cost, geometry, info):
    each is read or refused with a CompressError; the checks there are what keeps corrupt files out of TFLM."""
    from compress import CompressError
    from compress.devices.latency import tflite_geometry
    from compress.models.tflite_io import tflite_cost, tflite_info

    rng, refused, path = random.Random(SEED), 0, tmp_path / "model.tflite"
    for i in range(300):
        path.write_bytes(mutate(TFLITE.read_bytes(), rng))
        try:
            tflite_cost(path), tflite_geometry(path), tflite_info(path.read_bytes(), str(path))
        except CompressError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path)), f"mutation {i}: {exc}"
            refused += 1
    assert refused > 150  # the rest changed weights, names or scales: models that still read


def test_fuzzed_tflite_through_estimate(tmp_path, capsys):
    codes = fuzz(TFLITE.read_bytes(), "model.tflite", lambda p, d: ["estimate", p], 24, tmp_path, capsys, SEED)
    assert codes.get(2, 0) > 8, codes  # most mutations are caught; the rest (weights, names) are valid models


def test_fuzzed_tflite_through_firmware(tmp_path, capsys):
    codes = fuzz(TFLITE.read_bytes(), "model.tflite", lambda p, d: ["firmware", p, "--out", str(d / "sketch")], 10,
                 tmp_path, capsys, SEED + 1)
    assert codes.get(2, 0) > 3, codes


def test_fuzzed_keras_through_estimate_and_export(keras_file, tmp_path, capsys):
    data = tmp_path / "d.npz"
    data.write_bytes(npz_bytes(False))
    (tmp_path / "estimate").mkdir()
    codes = fuzz(keras_file, "tiny.keras", lambda p, d: ["estimate", p], 30, tmp_path / "estimate", capsys, SEED + 2)
    assert codes.get(2, 0) > 15, codes
    (tmp_path / "export").mkdir()
    fuzz(keras_file, "tiny.keras", lambda p, d: ["export", p, "--data", str(data), "--size", "16"], 5,
         tmp_path / "export", capsys, SEED + 3)


@pytest.mark.parametrize("member, count", [("model.weights.h5", 12), ("config.json", 16)])
def test_fuzzed_keras_members_behind_a_valid_zip(member, count, keras_file, tmp_path, capsys):
    """The weights reach HDF5 (in a child process), the config reaches the allow-list and Keras: every mutation
    ends with exit 0 or 2 and at most one error line (checked by `run`), and the damage is caught, not ignored."""
    codes = fuzz(keras_file, "tiny.keras", lambda p, d: ["estimate", p], count, tmp_path, capsys, SEED + 6,
                 rezipped(member))
    assert sum(codes.values()) == count and codes.get(2, 0) >= count // 2, codes


def test_fuzzed_npz_arrays_behind_a_valid_zip(tmp_path, capsys):
    codes = fuzz(npz_bytes(False), "d.npz", lambda p, d: ["data", "inspect", p, "--out", str(d)], 100, tmp_path,
                 capsys, SEED + 7, rezipped("x.npy"))
    assert codes.get(0, 0) > 20 and codes.get(2, 0) > 10, codes  # changed pixels still load; broken headers do not


@pytest.mark.parametrize("name, base", [("faces.csv", fer_csv()), ("plain.npz", npz_bytes(False)),
                                        ("packed.npz", npz_bytes(True))], ids=["csv", "npz", "npz_compressed"])
def test_fuzzed_data_through_data_inspect(name, base, tmp_path, capsys):
    codes = fuzz(base, name, lambda p, d: ["data", "inspect", p, "--out", str(d)], 100, tmp_path, capsys, SEED + 4)
    assert codes.get(2, 0) > 10, codes


def test_fuzzed_tflite_in_a_real_process_ends_with_an_exit_code_not_a_signal(tmp_path):
    """A few runs of `python -m compress firmware` itself: a signal would show as a negative return code."""
    rng = random.Random(SEED + 5)
    for i in range(2):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(mutate(TFLITE.read_bytes(), rng))
        proc = subprocess.run([sys.executable, "-m", "compress", "firmware", str(path), "--out",
                               str(tmp_path / f"fw{i}")], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode in (0, 2) and len(errors) <= 1 and "Traceback" not in proc.stderr, proc.stderr
