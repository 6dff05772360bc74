"""Device profiles as data: the shipped JSON files, a user's board.json, and one line for each malformed one."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compress import CompressError
from compress.config import Targets
from compress.devices import cores, profile_file, profiles
from compress.devices import targets as device_targets
from compress.models.formulas import ModelCost

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(profiles.PROFILES_DIR.glob("*.json"))
BOARD = {"name": "myboard", "core": "Cortex-M33", "clock_hz": 100_000_000, "flash_bytes": 1_048_576,
         "ram_bytes": 262_144, "firmware": "generic",
         "sources": {"core": "my datasheet p. 1", "clock_hz": "my datasheet p. 2", "flash_bytes": "p. 3",
                     "ram_bytes": "p. 4"}}


def _write(tmp_path, data, name="board.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compress", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"TF_USE_LEGACY_KERAS": "1", "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_profile_loads_and_names_a_source_for_every_figure(path):
    device = profiles.from_file(path)
    assert device.name == path.stem and profiles.get(path.stem) == device
    figures = [k for k in json.loads(path.read_text()) if k in profile_file.NUMBERS or k == "core"]
    assert figures and all(device.sources[k].strip() for k in figures)
    assert device.firmware in (*profiles.BOARDS, None)
    if device.firmware is None:
        assert device.sources["firmware"]  # says why in one line


def test_the_asked_for_cores_are_shipped_and_the_package_ships_the_files():
    assert {"Cortex-M0+", "Cortex-M7", "Cortex-M33"} <= {d.core for d in profiles.DEVICES.values()}
    rp2040 = profiles.get("rp2040")  # RP2040 datasheet: 133 MHz, 264 kB SRAM; Pico: 2 MB flash
    assert (rp2040.clock_hz, rp2040.ram_bytes, rp2040.flash_bytes) == (133e6, 264 * 1024, 2 * 1024 * 1024)
    assert '"builtin/*.json"' in (ROOT / "pyproject.toml").read_text()


def test_a_user_board_json_is_a_device_everywhere_a_name_is(tmp_path):
    path = _write(tmp_path, BOARD)
    device = profiles.get(str(path))
    assert (device.name, device.core, device.clock_hz, device.path) == ("myboard", "Cortex-M33", 1e8, str(path))
    assert device.runtime_flash_bytes == profiles.RUNTIME_FLASH_BYTES and device.kernels == "reference"
    assert device.flops_per_s == pytest.approx(1e8 / profiles.CYCLES_PER_FLOP)
    assert profiles.board_for(str(path)) == "generic" and device.emulated
    cost = ModelCost("m", "spec", (), 0, 1_000, 0, 10_000, 5_000)
    checks = {c.name: c for c in device_targets.check(cost, device, Targets(budget_flops=None))}
    assert checks["flash"].limit == 1_048_576 and checks["arena"].limit == 262_144


def _bad(**changes) -> dict:
    data = json.loads(json.dumps(BOARD))
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("data, message", [
    ("{", "not valid JSON"),
    ("[1, 2]", "expected a JSON object of device fields, not list"),
    ("[" * 100_000 + "]" * 100_000, "not a device profile|not valid JSON"),  # too large or nested too deeply
    ("[" * 5_000 + "]" * 5_000, "nested deeper than 100 levels"),  # refused before json.loads can recurse
    (_bad(clock_hz="48MHz"), r'clock_hz: expected a number > 0 and <= 2e\+09, got "48MHz"'),
    (_bad(clock_hz=0), "clock_hz: expected a number > 0"),
    (_bad(clock_hz=-48e6), "clock_hz: expected a number > 0 .*got -48000000.0"),
    (_bad(clock_hz=1e30), r"clock_hz: expected .* <= 2e\+09, got 1e\+30"),
    (_bad(clock_hz=True), "clock_hz: expected a number .*got true"),
    (_bad(clock_hz={"a": {"b": {"c": [1]}}}), r'clock_hz: expected a number .*got \{"a": \{"b"'),
    (_bad(flash_bytes=1.5), "flash_bytes: expected a whole number > 0"),
    (_bad(ram_bytes=0), "ram_bytes: expected a whole number > 0"),
    (_bad(ram_bytes=2 ** 40), "ram_bytes: expected a whole number > 0 and <= 1.07374e\\+09, got 1099511627776"),
    (_bad(runtime_ram_bytes=-1), "runtime_ram_bytes: expected a whole number >= 0"),
    (_bad(runtime_flash_bytes=2_000_000), "runtime_flash_bytes: 2,000,000 leaves no room for a model"),
    (_bad(cycles_per_instruction=0), "cycles_per_instruction: expected a number > 0 and <= 100"),
    (_bad(name=...), "missing field 'name'"),
    (_bad(sources=...), "missing field 'sources'"),
    (_bad(name=["x"]), r'name: expected a string, got \["x"\]'),
    (_bad(name="my board!"), "name: expected 1-40 letters"),
    (_bad(core="Cortex-A53"), "core: expected one of Cortex-M0\\+, Cortex-M3, Cortex-M4F, Cortex-M7"),
    (_bad(kernels="tvm"), "kernels: expected one of reference, cmsis-nn"),
    (_bad(firmware="apollo3"), "firmware: expected null or a board that serves any device \\(generic\\)"),
    (_bad(clock=48e6), "unknown field 'clock'"),
    (_bad(sources=["datasheet"]), "sources: expected an object"),
    (_bad(sources={**BOARD["sources"], "clock_hz": ""}), "sources: clock_hz: expected a non-empty string"),
    (_bad(sources={k: v for k, v in BOARD["sources"].items() if k != "ram_bytes"}), "no source for 'ram_bytes'"),
    (_bad(sources={**BOARD["sources"], "flops_per_s": "x"}), "'flops_per_s' is not a figure of this profile"),
])
def test_a_malformed_profile_is_one_line_naming_the_file_and_field(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(CompressError, match=message) as caught:
        profiles.get(str(path))
    line = str(caught.value)
    assert line.startswith(f"{path}: ") and "\n" not in line and len(line) < 400


def test_missing_file_and_unknown_name_are_one_line(tmp_path):
    with pytest.raises(CompressError, match="nope.json: cannot read the device profile"):
        profiles.get(str(tmp_path / "nope.json"))
    with pytest.raises(CompressError, match="unknown device 'esp32'; known devices: apollo3, nano33ble, nrf5340, "
                                            r"rp2040, stm32f746, stm32u585 \(`estimate --devices` lists them\), or "
                                            "the path of a board .json"):
        profiles.get("esp32")


def test_a_core_qemu_does_not_run_is_labelled_estimated_not_emulated():
    rp2040 = profiles.get("rp2040")
    assert not rp2040.emulated and rp2040.latency_basis == "estimated, not emulated"
    assert profiles.get("stm32f746").latency_basis == "emulated on mps2-an500"
    assert profiles.get("apollo3").latency_basis == "emulated on mps2-an386"
    cost = ModelCost("m", "spec", (), 0, 1_000_000, 0, 10_000, 5_000)
    latency = {c.name: c for c in device_targets.check(cost, rp2040, Targets(latency_s=1.0))}["latency"]
    assert latency.note == "estimated, not emulated" and latency.to_dict()["note"] == latency.note
    assert {c.name: c for c in device_targets.check(cost, profiles.get("apollo3"), Targets(latency_s=1.0))
            }["latency"].note == ""
    assert not cores.get("Cortex-M0+").emulated and cores.get("Cortex-M0+").why_not_emulated


def test_estimate_devices_lists_every_profile_and_what_is_emulated():
    proc = _run("estimate", "--devices")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert set(profiles.DEVICES) <= set(rows)
    assert "Cortex-M0+" in rows["rp2040"] and "133" in rows["rp2040"] and "estimated, not emulated" in rows["rp2040"]
    assert "Cortex-M7" in rows["stm32f746"] and "emulated on mps2-an500" in rows["stm32f746"]
    assert "1,024" in rows["stm32f746"] and "320" in rows["stm32f746"]
    listed = json.loads(_run("estimate", "--devices", "--json").stdout)
    assert {d["name"]: d["emulated"] for d in listed}["rp2040"] is False


def test_estimate_labels_a_latency_that_is_not_emulated(tmp_path):
    proc = _run("estimate", "models/model_int8.tflite", "--device", "rp2040", "--max-latency-ms", "500")
    assert proc.returncode == 0, proc.stderr
    assert "latency (estimated, not emulated)" in proc.stdout  # the targets table's row
    assert "latency model: emulated; estimated, not emulated" in proc.stdout
    good = _write(tmp_path, BOARD, "myboard.json")
    proc = _run("estimate", "models/model_int8.tflite", "--device", str(good))
    assert proc.returncode == 0 and "device myboard (Cortex-M33, 100 MHz)" in proc.stdout, proc.stderr
    bad = _write(tmp_path, _bad(clock_hz=-1))
    proc = _run("estimate", "models/model_int8.tflite", "--device", str(bad))
    assert proc.returncode != 0 and proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith(f"error: {bad}: clock_hz: expected a number > 0")


def test_device_help_says_where_the_list_is_and_that_a_json_path_works():
    text = " ".join(_run("search", "--help").stdout.split())
    assert "`estimate --devices` lists them" in text and "board .json" in text


def test_search_summary_and_report_label_a_device_that_is_not_emulated(tmp_path):
    """The search's summary heading and the run report name the device with this label; the targets rows (from
    summary.json's dicts) carry the latency row's note."""
    from compress.report import tables

    assert tables.latency_label("rp2040") == " (latency estimated, not emulated)"
    assert tables.latency_label("stm32f746") == tables.latency_label("apollo3") == ""
    assert tables.latency_label(str(tmp_path / "gone.json")) == ""  # a board file moved since the run: no label
    row = {"name": "latency", "figure": 0.5, "limit": 1.0, "unit": "s", "margin": 0.5, "passed": True,
           "note": "estimated, not emulated"}
    assert tables.target_rows([row])[0][0] == "latency (estimated, not emulated)"
    assert tables.target_rows([row | {"note": ""}])[0][0] == "latency"
