"""Channels between the container and the host desktop while Spotify runs (links, sign-in)."""
