"""Training, evaluation and inference engines (import the submodules you need)."""
