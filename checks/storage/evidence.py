"""What a bug report holds about Spotify's storage (declared by ``storage.dir``): its prefs
without credentials, whether you are logged in, and one level of the tree with owners and modes.

The container writes this tree: nothing here follows a link in it (``bundle.contained``), and
the collector refuses a prefs file that is a symlink or a hard link, saying so in the manifest."""
from __future__ import annotations

import os

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.bundle import contained
from spotidoctor.bundle.identity import prefs_candidates, prefs_files, prefs_text
from spotidoctor.bundle.secrets import autologin_values, sanitize_prefs
from spotidoctor.bundle.sources import generated, lstat_text
from spotidoctor.bundle.spec import BundleSpec

MAX_COLLECTED = 5  # prefs files in a report (one per account; the count is in spotify-login.txt)


def spotify_evidence(spec: BundleSpec, ctx: Context) -> None:
    files = prefs_files(ctx)
    logged_in = any(autologin_values(prefs_text(ctx, path)) for path in files)
    # Every prefs name, a planted symlink too: the collector refuses it and the manifest says why.
    for index, path in enumerate(prefs_candidates(ctx)[:MAX_COLLECTED]):
        # Never the account dir's name: it names the Spotify account.
        name = "storage/spotify-prefs" if index == 0 else f"storage/spotify-prefs-{index + 1}"
        spec.add_file(path, name, max_bytes=64 * 1024, transform=sanitize_prefs)
    found = "yes" if logged_in else "no" if files else "unknown (no prefs file yet)"
    spec.add_text("storage/spotify-login.txt", f"logged in: {found}\nprefs files: {len(files)}\n")
    generated(spec, "storage/tree.txt", lambda: storage_text(ctx))


def storage_text(ctx: Context) -> str:
    """One level of the storage tree with owners and modes: enough to see
    who owns what, without file names from inside (the account directory names one)."""
    root = ctx.storage_dir
    fs = ctx.probes.fs
    lines = [f"{root}: {lstat_text(ctx, root)}"]
    for sub in (layout.storage_config(root), layout.storage_cache(root)):
        lines.append(f"{sub}: {lstat_text(ctx, sub)}")
        names = contained.listdir(fs, root, sub)  # never through a symlink the container made
        for name in names[:50]:
            accounts = len(contained.listdir(fs, root, os.path.join(sub, name))) if name == "Users" else 0
            shown = f"Users/ ({accounts} account dir(s))" if name == "Users" else name
            lines.append(f"  {shown}: {lstat_text(ctx, os.path.join(sub, name))}")
        if len(names) > 50:
            lines.append(f"  ... {len(names) - 50} more")
    return "\n".join(lines) + "\n"
