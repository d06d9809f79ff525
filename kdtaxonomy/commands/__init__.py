"""Bodies of the heavier CLI commands (imported only when the command runs)."""
