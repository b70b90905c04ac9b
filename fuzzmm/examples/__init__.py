"""Small public example programs."""
