"""Device profiles: every microcontroller we target, each a JSON file with a source for each figure.

The built-in profiles are compress/devices/builtin/<name>.json; `--device` takes one of their names or the path of
a board .json of the same schema (compress.devices.profile_file; README 'Device profiles as data')."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from compress import CompressError
from compress.devices import cores, profile_file

KiB = 1024
# Defaults of a profile file that leaves them out (the shipped profiles give them, with their sources).
RUNTIME_FLASH_BYTES = 128 * KiB
RUNTIME_RAM_BYTES = 32 * KiB
# The cs231n study (Shved 2019) measured TFLM reference kernels on Apollo3 at 82.7 M FLOPs in 3 min 1 s: 0.457
# MFLOP/s, rounded to 0.46e6. That is ~104 cycles per FLOP at 48 MHz; a profile without flops_per_s is scaled by
# clock from it (pessimistic for the dual-issue Cortex-M7).
APOLLO3_FLOPS_PER_S = 0.46e6
CYCLES_PER_FLOP = 48e6 / APOLLO3_FLOPS_PER_S


@dataclass(frozen=True)
class Device:
    name: str
    core: str  # a compress.devices.cores title: Cortex-M4F, Cortex-M7, ...
    clock_hz: float
    flash_bytes: int  # what a program may occupy (bootloader excluded)
    ram_bytes: int  # what a program may use for data
    flops_per_s: float  # latency_model="flops"
    kernels: str = "reference"  # latency_model="ops" default kernel library
    runtime_flash_bytes: int = RUNTIME_FLASH_BYTES
    runtime_ram_bytes: int = RUNTIME_RAM_BYTES
    cycles_per_instruction: float = 1.0  # cycles per instruction QEMU counts (latency_model="emulated")
    firmware: str | None = None  # the firmware board that serves it; None: none yet (sources say why)
    title: str = ""
    sources: dict = field(default_factory=dict, compare=False, repr=False)  # figure -> where it comes from
    path: str | None = None  # the file it was read from, for a user's board .json

    @property
    def emulated(self) -> bool:
        """Whether compress runs TFLM for this core in QEMU (else latency is estimated, not emulated)."""
        return cores.get(self.core).emulated

    @property
    def latency_basis(self) -> str:
        return cores.latency_basis(self.core)

    def to_dict(self) -> dict:
        return asdict(self) | {"emulated": self.emulated, "latency_basis": self.latency_basis}


@dataclass(frozen=True)
class Board:
    """A firmware target of compress.deploy.firmware: what it writes and the device profile it serves."""
    title: str
    device: str  # the default compress.devices profile: flash and RAM limits, runtime allowances, clock
    kind: str  # "sketch": an Arduino sketch named after its folder; "library": C++ library + CMake project
    fqbns: tuple[tuple[str, str], ...] = ()  # (board, FQBN), the default first
    baud: int = 115200
    devices: tuple[str, ...] | None = None  # the profiles it may target; None: any whose core it knows


# The one board <-> device table. FQBNs: the board ids of the SparkFun Arduino_Apollo3 core v2.x boards.txt (vendor
# SparkFun, architecture apollo3) and of the Arduino Mbed OS Nano core (arduino:mbed_nano), which serves the Nano 33
# BLE and BLE Sense alike.
BOARDS = {
    "apollo3": Board(
        title="SparkFun Apollo3 (Edge, Artemis)", device="apollo3", kind="sketch", devices=("apollo3",),
        fqbns=(("SparkFun Edge", "SparkFun:apollo3:sfe_edge"),
               ("SparkFun Edge 2", "SparkFun:apollo3:sfe_edge2"),
               ("RedBoard Artemis", "SparkFun:apollo3:sfe_artemis"),
               ("RedBoard Artemis Nano", "SparkFun:apollo3:sfe_artemis_nano"),
               ("RedBoard Artemis ATP", "SparkFun:apollo3:sfe_artemis_atp"),
               ("Artemis Thing Plus", "SparkFun:apollo3:sfe_artemis_thing_plus"),
               ("Artemis Module", "SparkFun:apollo3:sfe_artemis_module"),
               ("Artemis Dev Kit", "SparkFun:apollo3:sfe_artemis_dk"))),
    # Arduino_TensorFlowLite's tflite::InitializeTarget() opens the USB serial port itself (9600 baud, which USB
    # CDC ignores): the sketch only prints.
    "nano33ble": Board(
        title="Arduino Nano 33 BLE (nRF52840)", device="nano33ble", kind="sketch", devices=("nano33ble",),
        fqbns=(("Arduino Nano 33 BLE, Nano 33 BLE Sense", "arduino:mbed_nano:nano33ble"),), baud=9600),
    "generic": Board(title="any Cortex-M (C++ library + CMake)", device="stm32f746", kind="library"),
}

# The board `firmware` writes for each built-in device (the profile's firmware field), and so the one a search on
# that device ships: the SparkFun Apollo3 core sketch, the Arduino_TensorFlowLite sketch for the Nano 33 BLE, and for
# other devices the plain C++ library + CMake project.
PROFILES_DIR = Path(str(resources.files("compress.devices") / "builtin"))


def from_file(path) -> Device:
    """A device profile file, checked (one line naming the file and field when it is wrong)."""
    data = profile_file.read(path, {name: board.devices for name, board in BOARDS.items()})
    fields = {k: v for k, v in data.items() if k != "sources"}
    fields.setdefault("flops_per_s", data["clock_hz"] / CYCLES_PER_FLOP)
    return Device(**fields, sources=dict(data["sources"]), path=str(path))


def _builtin() -> dict[str, Device]:
    """The shipped profiles by name (the file stem is the name: tests check it)."""
    return {device.name: device for device in map(from_file, sorted(PROFILES_DIR.glob("*.json")))}


DEVICES = _builtin()
DEVICE_BOARDS = {name: device.firmware for name, device in DEVICES.items() if device.firmware}


def is_file(name: str) -> bool:
    """--device names a file (a path or anything ending .json), not a built-in profile."""
    return name.endswith(".json") or "/" in name or "\\" in name


def get(name: str) -> Device:
    """A built-in profile by name, or a board .json by path."""
    if is_file(name):
        return from_file(name)
    if name not in DEVICES:
        raise CompressError(f"unknown device {name!r}; known devices: {', '.join(DEVICES)} (`estimate "
                            "--devices` lists them), or the path of a board .json")
    return DEVICES[name]


def board_for(device: str) -> str:
    """The firmware board for a device: checked before a search trains anything, so a run can always ship."""
    profile = get(device)
    if profile.firmware is None:
        why = profile.sources.get("firmware", "no firmware board serves it yet")
        raise CompressError(f"--device {device}: {why}; devices with a board: "
                            f"{', '.join(n for n, d in DEVICES.items() if d.firmware)}")
    return profile.firmware
