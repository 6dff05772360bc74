"""Microcontroller profiles, latency estimates and the target check."""
