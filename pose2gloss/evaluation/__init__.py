"""Judging models: metrics and export gates, selection against the baseline, and promotion to production."""
