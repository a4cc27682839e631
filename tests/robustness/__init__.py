"""Robustness and safety (issue 9): bad input, hung servers, faults in fixes, never widening
access, secrets, and parser properties. Every test drives the real CLI in a subprocess with a
private HOME/XDG tree (``sandbox.Sandbox``) unless it says why not."""
