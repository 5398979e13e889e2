"""critic: lands with its own issue (see the README status); nothing here yet."""
