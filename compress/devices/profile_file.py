"""A device profile read from a JSON file: every field typed and ranged (compress/validate.py), so a profile edited
by hand is one line naming the file and the field, never a ZeroDivisionError in the latency model."""
from __future__ import annotations

from dataclasses import fields

from compress import files, validate as v
from compress.devices.profiles import Device

_BYTES = v.whole(1024, 1 << 34)  # 1 KiB .. 16 GiB, as --max-ram-kb and --max-flash-kb (config.LIMITS)
SCHEMA = v.record(
    {"name": v.text(pattern=r"[a-z0-9_]{1,32}"), "core": v.text(), "clock_hz": v.number(above=0, high=2e9),
     "flash_bytes": _BYTES, "ram_bytes": _BYTES, "flops_per_s": v.number(above=0, high=1e15)},
    {"kernels": v.text(("reference", "cmsis-nn")), "runtime_flash_bytes": v.whole(0, 1 << 34),
     "runtime_ram_bytes": v.whole(0, 1 << 34)},
    extra=True)  # notes and sources beside the figures are kept out of the Device


def read_profile(path) -> Device:
    """The Device a profile file describes; one CompressError line naming the file and the field otherwise."""
    found = files.read_json(path, SCHEMA, what="device profile")
    return Device(**{f.name: found[f.name] for f in fields(Device) if f.name in found})
