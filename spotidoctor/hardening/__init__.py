"""Checks and filters that keep the launch from widening the sandbox: configuration audit,
name validation, and filtering of the container's terminal output."""
