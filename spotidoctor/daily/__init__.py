"""Daily use: links and one instance, the desktop entry, scale, language, and what the image
needs for them. Small modules the launch, the ``desktop``/``stop`` commands and the checks
call:

- ``links``: which links are handed to Spotify (``spotify:`` URIs, open.spotify.com links);
- ``instance``: is Spotify running in its container, forward links into it, stop it;
- ``launchparts``: what ``launch`` adds (``handoff``, ``daily_parts``), each with a reason;
- ``scale``, ``language``: ``--force-device-scale-factor`` and LANG/LC_* for the client;
- ``imagecontents``: one look inside the image (fonts, tray library, gio-launch-desktop,
  locales), kept per image id;
- ``desktopentry``, ``icons``, ``mimeapps``, ``install``, ``userfiles``: ``spotidoctor desktop
  install|uninstall``;
- ``facts``: the typed facts the dbus.*, network.* and image.locale checks publish.
"""
