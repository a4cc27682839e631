"""Per-launch channels between the container and the user's session (audio, display, D-Bus,
URL opening, the sign-in callback), each started on the host side and narrowed to what
Spotify needs."""
