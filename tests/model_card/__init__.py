"""Tests of `model_card`."""
