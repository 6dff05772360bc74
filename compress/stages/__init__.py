"""A search run's stages, each a function returning a frozen result: prepare -> baseline -> search -> finalise ->
ship -> report (compress.jobs runs them in that order; summary.json is written through compress.summary)."""
