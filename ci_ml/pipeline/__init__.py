"""The pipeline model, its parser and its graph."""
