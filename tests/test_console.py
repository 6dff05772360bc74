"""What people read: one latency format, plurals, margins that read as numbers, and long steps that say what they
make (the TFLM build, first-time data generation) without flooding the terminal."""
import re

from compress.console import Progress, margin, ms, plural
from compress.devices import profiles
from compress.devices.targets import TargetCheck
from compress.report import tables


def test_latency_is_milliseconds_to_three_significant_figures():
    assert ms(0.0187012) == "18.7 ms"
    assert ms(0.02) == "20.0 ms"
    assert ms(0.000512) == "0.512 ms"
    assert ms(1.4234) == "1,420 ms"
    assert ms(0.99996) == "1,000 ms"  # rounding up to the next power of ten keeps 3 figures, not 4
    assert ms(0) == "0 ms"


def test_counts_carry_their_noun_in_the_right_number():
    assert plural(1, "model") == "1 model"
    assert plural(38, "model") == "38 models"
    assert plural(1234, "file") == "1,234 files"
    assert plural(1.6, "cycle") == "1.6 cycles" and plural(1.0, "cycle") == "1 cycle"


def test_margins_are_percentages_down_to_twice_the_limit_then_a_multiple():
    assert margin(0.065) == "+6.5%"
    assert margin(-1.0) == "-100.0%"
    assert margin(-163.48) == "164x the limit"  # the figure is 164.48 times the limit, not "-16348.0%"


def test_the_targets_table_prints_latency_in_ms_and_names_the_allowances():
    device = profiles.get("apollo3")
    checks = [TargetCheck("latency", 0.0187012, 1.0, "s", 1 - 0.0187012, True),
              TargetCheck("flops", 75e6, 460_000, "FLOPs", (460_000 - 75e6) / 460_000, False)]
    text = tables.targets_table(checks)
    assert "18.7 ms" in text and "1,000 ms" in text and "163x the limit" in text  # 75e6 / 460e3 = 163.04
    assert not re.search(r"\d s\b", text)
    note = tables.allowance_note(device)
    assert f"{device.runtime_flash_bytes:,} bytes flash" in note and f"{device.runtime_ram_bytes:,} bytes RAM" in note


def test_progress_prints_its_heading_then_at_most_the_lines_asked(capsys):
    step = Progress(52, "compiled {done}/{total} files", "building something slow")
    for _ in range(52):
        step()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "building something slow"
    assert 5 <= len(lines) - 1 <= 10 and lines[-1] == "  compiled 52/52 files"
    quarters = Progress(8000, "drew {done:,}/{total:,} faces", "faces", lines=4)
    quarters(8000)
    assert capsys.readouterr().err.splitlines()[1:] == ["  drew 8,000/8,000 faces"]


def _toolchain(tmp_path):
    """A Cortex-M4 Toolchain without a tree or compiler: the tests replace tflm_build.run."""
    from compress.deploy import tflm_build
    from compress.devices import cores

    chain = tflm_build.Toolchain.__new__(tflm_build.Toolchain)
    chain.kernels, chain.tree, chain.gcc, chain.gxx, chain.defines, chain.includes = (
        "cmsis-nn", tmp_path / "tree", "gcc", "g++", [], [])
    chain.jobs, chain.dir = 2, tmp_path / "cache"
    chain.core = cores.get(tflm_build.DEFAULT_CORE)
    chain.cpu_flags = list(chain.core.cpu_flags)
    return chain


def test_a_first_build_says_what_it_compiles_and_counts_the_files(tmp_path, monkeypatch, capsys):
    """The compiler is faked (each step writes its output file): what is printed is what is tested."""
    from compress.deploy import tflm_build

    def fake_run(cmd, what, cwd=None, timeout=0):
        out = [str(c) for c in cmd]
        target = out[out.index("-o") + 1]
        open(target, "w").close()
        return ""

    monkeypatch.setattr(tflm_build, "run", fake_run)
    chain = _toolchain(tmp_path)
    sources = [f"tensorflow/lite/micro/kernels/k{i}.cc" for i in range(20)]
    assert all(p.exists() for p in chain.objects(sources))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("building TFLite Micro (cmsis-nn kernels) for the emulated Cortex-M4F: 20 files")
    assert "2 cores" in lines[0] and str(chain.dir) in lines[0]
    assert "after precompiling the headers they share" in lines[0] and lines[1].startswith("  TFLM build: precompiled")
    assert lines[-1] == "  TFLM build: compiled 20/20 files" and len(lines) <= 12
    chain.objects(sources)  # all cached now: nothing to say
    assert capsys.readouterr().err == ""


def test_first_time_face_generation_says_what_it_makes(tmp_path, capsys):
    from compress.config import DataConfig
    from compress.data import image_data

    config = DataConfig(samples=40, size=16)
    image_data.read_synthetic(config, cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert err.startswith("generating 40 synthetic face images of 16x16 pixels (first run") and str(tmp_path) in err
    assert "  drew 40/40 faces" in err
    image_data.read_synthetic(config, cache_dir=tmp_path)  # read from the cache: silent
    assert capsys.readouterr().err == ""


def test_first_time_sensor_generation_says_what_it_makes(tmp_path, capsys):
    from compress.config import DataConfig
    from compress.data import multitask_synth, wearable_data

    config = DataConfig(source="synthetic-wearables", subjects=3)
    wearable_data.recordings(config, cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert err.startswith("generating 3 subjects' synthetic wearable recordings") and str(tmp_path) in err
    multitask_synth.cached(2, 0, tmp_path, minutes=0.5)
    assert capsys.readouterr().err.startswith("generating 2 subjects' synthetic multi-task recordings of 0.5 minutes")
    wearable_data.recordings(config, cache_dir=tmp_path)
    multitask_synth.cached(2, 0, tmp_path, minutes=0.5)
    assert capsys.readouterr().err == ""  # both read from the cache


def test_the_cmsis_nn_rounds_of_a_build_say_one_line_each(tmp_path, monkeypatch, capsys):
    """They compile small C files in seconds, several rounds in a row: a heading and ten lines each would flood."""
    from compress.deploy import tflm_build

    monkeypatch.setattr(tflm_build, "run", lambda cmd, *a, **k: open(str(cmd[cmd.index("-o") + 1]), "w").close())
    chain = _toolchain(tmp_path)
    chain.objects([f"third_party/cmsis_nn/Source/f{i}.c" for i in range(31)])
    assert capsys.readouterr().err.splitlines() == ["  TFLM build: compiled 31/31 CMSIS-NN files the kernels call"]
