"""Tests of `recipe`."""
