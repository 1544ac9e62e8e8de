"""Renderers: each turns the same Report into one output format."""
