"""What is built on the checked model: diff, verify, the diagram, the formatter, highlighting, notebooks."""
