"""Shell completion scripts for bash, zsh and fish, made from the argument parser.

Check ids and namespaces are asked from ``spotidoctor list`` when completing, so drop-in and
plugin checks complete too.
"""
from __future__ import annotations

import shlex

from spotidoctor.docgen.parserinfo import Command, Option, ParserInfo

IDS_BASH = ("\"${COMP_WORDS[0]}\" list 2>/dev/null | awk 'NR > 1 && $1 !~ /^!/ { print $1; "
            "split($1, p, \".\"); print p[1] }' | sort -u")


def _words(items: list[str] | tuple[str, ...]) -> str:
    return shlex.quote(" ".join(items))


def _flags(options: tuple[Option, ...]) -> list[str]:
    return [flag for option in options for flag in option.flags]


def _bash_value_cases(info: ParserInfo) -> list[str]:
    """``case $prev``: what follows an option that takes a value."""
    by_kind: dict[str, list[str]] = {}
    choices: list[str] = []
    for option in info.value_options:
        if option.kind == "choice":
            choices.append(f"        {'|'.join(option.flags)}) COMPREPLY=($(compgen -W "
                           f"{_words(option.choices)} -- \"$cur\")); return ;;")
        else:
            by_kind.setdefault(option.kind, []).extend(option.flags)
    action = {"file": "COMPREPLY=($(compgen -f -- \"$cur\"))", "dir": "COMPREPLY=($(compgen -d -- \"$cur\"))",
              "id": "COMPREPLY=($(compgen -W \"$(_spotidoctor_ids)\" -- \"$cur\"))", "text": ":"}
    lines = [f"        {'|'.join(flags)}) {action[kind]}; return ;;" for kind, flags in sorted(by_kind.items())]
    return choices + lines


def _bash_command(command: Command, global_flags: list[str]) -> list[str]:
    flags = [*_flags(command.options), "--help", *global_flags]
    positional = command.positionals[0] if command.positionals else None
    if positional is not None and positional.kind == "choice":
        words = f"compgen -W {_words(positional.choices)} -- \"$cur\""
    elif positional is not None and positional.kind == "id":
        words = "compgen -W \"$(_spotidoctor_ids)\" -- \"$cur\""
    else:
        words = ":"
    return [f"        {command.name})",
            f"            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W {_words(flags)} -- \"$cur\"))",
            f"            else COMPREPLY=($({words})); fi ;;"]


def bash(info: ParserInfo) -> str:
    global_flags = _flags(info.global_options)
    takes_value = "|".join(f for o in info.value_options for f in o.flags)
    lines = [
        f"# bash completion for {info.prog}: source <({info.prog} completion bash)",
        "_spotidoctor_ids() {",
        f"    {IDS_BASH}",
        "}",
        "_spotidoctor() {",
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} command= i",
        "    COMPREPLY=()",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case ${COMP_WORDS[i]} in",
        f"            {takes_value}) ((i++)) ;;",
        "            -*) ;;",
        "            *) command=${COMP_WORDS[i]}; break ;;",
        "        esac",
        "    done",
        "    case $prev in",
        *_bash_value_cases(info),
        "    esac",
        "    case $command in",
        "        '')",
        f"            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "
        f"{_words(['--help', '--version', *global_flags])} -- \"$cur\"))",
        f"            else COMPREPLY=($(compgen -W {_words([c.name for c in info.commands])} -- \"$cur\")); fi ;;",
    ]
    for command in info.commands:
        lines += _bash_command(command, global_flags)
    lines += ["    esac", "}", f"complete -F _spotidoctor {info.prog}", ""]
    return "\n".join(lines)


def zsh(info: ParserInfo) -> str:
    """zsh runs the bash function through its bashcompinit layer (as many tools ship it)."""
    return "\n".join([
        f"#compdef {info.prog}",
        f"# zsh completion for {info.prog}: source <({info.prog} completion zsh)",
        "autoload -U +X compinit && { (( $+functions[compdef] )) || compinit; }",
        "autoload -U +X bashcompinit && bashcompinit",
        bash(info).split("\n", 1)[1],
    ])


def _fish_option(option: Option, condition: str) -> str:
    parts = [f"complete -c spotidoctor -n {shlex.quote(condition)}"]
    for flag in option.flags:
        parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
    if option.kind == "choice":
        parts.append(f"-x -a {_words(option.choices)}")
    elif option.kind == "id":
        parts.append("-x -a '(__spotidoctor_ids)'")
    elif option.kind in ("file", "dir"):
        parts.append("-r -F")
    elif option.takes_value:
        parts.append("-x")
    parts.append(f"-d {shlex.quote(_short(option.help))}")
    return " ".join(parts)


def _short(text: str) -> str:
    text = text.split(";")[0].split(" (")[0]
    return text if len(text) <= 60 else text[:59] + "…"


def fish(info: ParserInfo) -> str:
    names = " ".join(c.name for c in info.commands)
    lines = [
        f"# fish completion for {info.prog}: {info.prog} completion fish | source",
        "function __spotidoctor_ids",
        "    spotidoctor list 2>/dev/null | string match -rv '^(ID |! )' | string replace -r ' .*' ''",
        "    spotidoctor list 2>/dev/null | string match -rv '^(ID |! )' | string replace -r '\\..*' '' | sort -u",
        "end",
        "complete -c spotidoctor -f",
    ]
    lines += [_fish_option(o, "true") for o in info.global_options]
    for command in info.commands:
        lines.append(f"complete -c spotidoctor -n {shlex.quote('not __fish_seen_subcommand_from ' + names)} "
                     f"-a {command.name} -d {shlex.quote(_short(command.help))}")
    for command in info.commands:
        seen = f"__fish_seen_subcommand_from {command.name}"
        lines += [_fish_option(o, seen) for o in command.options]
        for positional in command.positionals:
            if positional.kind == "choice":
                lines.append(f"complete -c spotidoctor -n {shlex.quote(seen)} -a {_words(positional.choices)}")
            elif positional.kind == "id":
                lines.append(f"complete -c spotidoctor -n {shlex.quote(seen)} -a '(__spotidoctor_ids)'")
    return "\n".join(lines) + "\n"


SCRIPTS = {"bash": bash, "zsh": zsh, "fish": fish}


def script(info: ParserInfo, shell: str) -> str:
    return SCRIPTS[shell](info)
