"""The two intermediate forms: the expanded graph (`graph`) and the checked model (`model`)."""
