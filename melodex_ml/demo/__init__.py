"""Deterministic synthetic music library with known style, tempo and key, for ``melodex demo``."""

from melodex_ml.demo.library import (
    DemoDefect,
    DemoTrackTruth,
    available_formats,
    generate_demo_library,
    load_defects,
    load_ground_truth,
    plan_demo_library,
)
from melodex_ml.demo.synth import PITCH_CLASSES, STYLES, TEMPO_LIMITS

__all__ = [
    "PITCH_CLASSES",
    "STYLES",
    "TEMPO_LIMITS",
    "DemoDefect",
    "DemoTrackTruth",
    "available_formats",
    "generate_demo_library",
    "load_defects",
    "load_ground_truth",
    "plan_demo_library",
]
