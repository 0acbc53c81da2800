"""Background jobs with live progress: kinds, a runner, and their streams."""
