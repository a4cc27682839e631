"""``spotidoctor completion bash|zsh|fish``: print the shell's completion script.

    source <(spotidoctor completion bash)     # in ~/.bashrc
    spotidoctor completion fish > ~/.config/fish/completions/spotidoctor.fish
"""
from __future__ import annotations

import sys

from spotidoctor.cli import build_parser
from spotidoctor.commands.options import CompletionOptions
from spotidoctor.docgen.completion import script
from spotidoctor.docgen.parserinfo import describe


def run(options: CompletionOptions) -> int:
    sys.stdout.write(script(describe(build_parser()), options.shell))
    return 0
