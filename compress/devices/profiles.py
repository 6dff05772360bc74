"""Device profiles: every microcontroller we target, each number with its source."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from compress import CompressError

KiB = 1024

# What the program around the model takes: Arduino core (SparkFun Apollo3 v2 and Arduino's nano33ble cores are
# built on Mbed OS), Serial, the TFLM interpreter with a handful of int8 kernels, and TFLM's persistent allocations
# that the activation-only arena estimate leaves out. TFLM alone needs "as little as 20 KB of flash and 4 KB of
# SRAM" (Warden & Situnayake, TinyML, O'Reilly 2019, ch. 17); an Mbed-based core adds several times that.
# Uncalibrated: replace with `arduino-cli compile` figures of the generated sketch once firmware.py measures them.
RUNTIME_FLASH_BYTES = 128 * KiB
RUNTIME_RAM_BYTES = 32 * KiB

# The cs231n study (Shved 2019) measured TFLM reference kernels on Apollo3 at 82.7 M FLOPs in 3 min 1 s: 0.457
# MFLOP/s, rounded to 0.46e6. That is ~104 cycles per FLOP at 48 MHz; other Cortex-M cores running the same kernels are
# scaled by clock (pessimistic for the dual-issue Cortex-M7).
APOLLO3_FLOPS_PER_S = 0.46e6
CYCLES_PER_FLOP = 48e6 / APOLLO3_FLOPS_PER_S

@dataclass(frozen=True)
class Device:
    name: str
    core: str
    clock_hz: float
    flash_bytes: int  # what a sketch may occupy (bootloader excluded)
    ram_bytes: int  # what a sketch may use for data
    flops_per_s: float  # latency_model="flops"
    kernels: str = "reference"  # latency_model="ops" default kernel library
    runtime_flash_bytes: int = RUNTIME_FLASH_BYTES
    runtime_ram_bytes: int = RUNTIME_RAM_BYTES

    def to_dict(self) -> dict:
        return asdict(self)


DEVICES = {
    # Ambiq Apollo3 Blue (SparkFun Edge): Cortex-M4F at 48 MHz (96 MHz TurboSPOT burst), 1 MiB flash, 384 KiB SRAM
    # (SparkFun Edge hookup guide; Ambiq Apollo3 datasheet). Usable: SparkFun Apollo3 Arduino core boards.txt,
    # upload.maximum_size=983040 (the SparkFun Variable Loader takes the first 64 KiB: tools/uploaders/svl/0x10000.ld)
    # and upload.maximum_data_size=393216.
    "apollo3": Device("apollo3", "Cortex-M4F", 48e6, 983_040, 393_216, APOLLO3_FLOPS_PER_S),
    # Nordic nRF52840 (Arduino Nano 33 BLE): Cortex-M4F at 64 MHz, 1 MiB flash, 256 KiB RAM (nRF52840 product
    # specification). Usable: arduino/ArduinoCore-mbed boards.txt, nano33ble.upload.maximum_size=983040 (64 KiB
    # bootloader) and maximum_data_size=262144.
    "nano33ble": Device("nano33ble", "Cortex-M4F", 64e6, 983_040, 262_144, 64e6 / CYCLES_PER_FLOP),
    # ST STM32F746 (NUCLEO-F746ZG, 32F746G-DISCO): Cortex-M7 at 216 MHz, 1 MiB flash, 320 KiB SRAM (ST DS10916).
    # Usable: stm32duino boards.txt, NUCLEO_F746ZG.upload.maximum_size=1048576, maximum_data_size=327680.
    "stm32f746": Device("stm32f746", "Cortex-M7", 216e6, 1_048_576, 327_680, 216e6 / CYCLES_PER_FLOP),
}


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

# The board `firmware` writes for each device (each board's default device), and so the one a search on that device
# ships: the SparkFun Apollo3 core sketch, the Arduino_TensorFlowLite sketch for the Nano 33 BLE, and for a device
# without an Arduino target of ours the plain C++ library + CMake project. `search --device` accepts exactly these.
DEVICE_BOARDS = {board.device: name for name, board in BOARDS.items()}


def get(name: str) -> Device:
    if name not in DEVICES:
        raise CompressError(f"unknown device {name!r}; known devices: {', '.join(DEVICES)}")
    return DEVICES[name]


def board_for(device: str) -> str:
    """The firmware board for a device: checked before a search trains anything, so a run can always ship."""
    if device not in DEVICE_BOARDS:
        raise CompressError(f"--device {device}: no firmware board supports it; devices with a board: "
                            f"{', '.join(DEVICE_BOARDS)}")
    return DEVICE_BOARDS[device]
