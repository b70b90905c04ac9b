"""Detectors beyond the sanitizers in the primitives: analyses over a run's events."""
