"""Channels between the container and the user's desktop services, filtered on the host side."""
