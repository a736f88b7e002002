"""The officers' web dashboard (docs/dashboard.md)."""
