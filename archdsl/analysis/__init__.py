"""Graph to checked model: the shape and parameter pass that applies the layer table."""
