"""taskcore."""
