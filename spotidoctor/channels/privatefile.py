"""Write a file into a directory only this user can enter: atomically, never through a symlink.

The helper is ``spotidoctor.privatefs`` (every file spotidoctor writes for itself uses it);
this name stays for the channels that import it from here.
"""
from __future__ import annotations

from spotidoctor.privatefs import PRIVATE_DIR_MODE, UnsafeDirectory, remove_private, write_private

__all__ = ["UnsafeDirectory", "write_private", "remove_private", "PRIVATE_DIR_MODE"]
