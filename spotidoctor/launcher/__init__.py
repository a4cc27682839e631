"""The launch supervisor: what ``spotidoctor launch`` does once its preflight passed.

- ``plan``: which channels the launch opens (audio mode, X trust level, D-Bus, sign-in relay);
- ``channels``: opening them (``audio``, ``display``, ``desktop``) and stopping them all;
- ``podmanrun``: ``podman run`` in the foreground, its output through the terminal filter;
- ``supervisor``: the whole run, its record and the line saying what the channels refused;
- ``daily``: one Spotify (links handed to a running one), the daily parts and links in the command;
- ``sandbox``: the configuration validated, and every setting that widens the sandbox named;
- ``dryrun``: ``launch --dry-run``'s command and channels, nothing started.
"""
