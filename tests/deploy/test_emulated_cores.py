"""TFLite Micro on each emulated core: the profile's core picks the QEMU machine, flags and memory map.

The Cortex-M7 (mps2-an500) runs the committed model end to end; the build is cached in $COMPRESS_CACHE like the
Cortex-M4's. Skips, with the reason, where the toolchain, QEMU or a TFLM tree is missing."""
import json
from pathlib import Path

import pytest

from compress import CompressError, cli
from compress.deploy import emulator, tflm_build
from compress.devices import cores, profiles

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "models" / "model_int8.tflite"


def _needs(core: str) -> None:
    missing = emulator.toolchain_missing(core)
    if missing:
        pytest.skip(f"emulator unavailable for the {core}: {missing}")


@pytest.mark.parametrize("core, machine", [("Cortex-M7", "mps2-an500"), ("Cortex-M33", "mps2-an505")])
def test_each_core_runs_the_committed_model_exactly_on_its_machine(core, machine):
    _needs(core)
    run = emulator.emulate(COMMITTED, "cmsis-nn", core=core)
    assert (run.core, run.machine) == (core, machine) and run.outputs_match is True
    _needs("Cortex-M4F")
    m4 = emulator.emulate(COMMITTED, "cmsis-nn", compare=False)
    assert [op.op for op in run.ops] == [op.op for op in m4.ops] and run.arena_bytes == m4.arena_bytes
    # the same DSP instructions (ARMv7E-M, ARMv8-M Mainline + DSP) and CMSIS-NN code paths: counts within a few
    # per cent of the M4's (measured: M7 +2.6 %, M33 -0.9 %)
    assert run.instructions == pytest.approx(m4.instructions, rel=0.1)


def test_emulate_device_picks_its_core(capsys):
    _needs("Cortex-M7")
    assert cli.main(["emulate", str(COMMITTED), "--device", "stm32f746", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["core"], out["machine"], out["clock_hz"]) == ("Cortex-M7", "mps2-an500", 216e6)
    assert out["latency_s"] == pytest.approx(out["instructions"] / 216e6)


def test_a_core_qemu_does_not_run_is_refused_in_one_line(capsys):
    assert emulator.toolchain_missing("Cortex-M0+").startswith("Cortex-M0+ is not emulated: QEMU has no")
    with pytest.raises(CompressError, match="^Cortex-M0\\+ is not emulated: "):
        emulator.emulate(COMMITTED, core="Cortex-M0+")
    with pytest.raises(CompressError, match="Cortex-M0\\+ is not emulated"):
        tflm_build.Toolchain("cmsis-nn", core="Cortex-M0+")
    assert cli.main(["emulate", str(COMMITTED), "--device", "rp2040"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Cortex-M0+ is not emulated") and "\n" not in err


def test_winner_on_a_core_that_is_not_emulated_is_skipped_with_the_reason():
    found = emulator.emulate_winner(COMMITTED, "cmsis-nn", profiles.get("rp2040"), log=lambda m: None)
    assert found == {"skipped": f"Cortex-M0+ is not emulated: {cores.get('Cortex-M0+').why_not_emulated}"}


def test_each_emulated_core_has_a_machine_of_this_qemu():
    """The machines named in compress.devices.cores exist in the installed QEMU (qemu-system-arm -machine help)."""
    import subprocess

    _needs("Cortex-M4F")
    listed = subprocess.run([tflm_build.tool("qemu-system-arm"), "-machine", "help"], capture_output=True,
                            text=True, timeout=60).stdout
    for core in cores.CORES.values():
        if core.emulated:
            assert f"{core.machine.name} " in listed and core.machine.cpu in core.cpu_flags[0]
