"""Channels between the container and the host session (display, audio, D-Bus, URLs), each
narrowed to what Spotify needs."""
