"""Metrics shared by training and the report: tie-aware ranking and calibration, funnel counts."""
