"""Checked model to code: one module per framework, the Jinja rendering, and live framework objects."""
