"""The argument parser as plain data: what completion scripts and the man page are made from."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

# Values completed from the registry's check ids and namespaces.
ID_DESTS = frozenset({"selectors", "check_id", "ignore"})


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None  # None: a flag without a value
    choices: tuple[str, ...] = ()
    kind: str = "text"  # what its value is: text, file, dir, choice, id

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None


@dataclass(frozen=True)
class Positional:
    name: str
    help: str
    choices: tuple[str, ...] = ()
    kind: str = "text"
    many: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]

    def usage(self) -> str:
        parts = [self.name, *(f"[{o.flags[-1]}{' ' + o.metavar if o.metavar else ''}]" for o in self.options)]
        for positional in self.positionals:
            name = f"{positional.name}..." if positional.many else positional.name
            parts.append(f"[{name}]" if positional.optional else name)
        return " ".join(parts)


@dataclass(frozen=True)
class ParserInfo:
    prog: str
    description: str
    global_options: tuple[Option, ...]
    commands: tuple[Command, ...]

    @property
    def value_options(self) -> tuple[Option, ...]:
        """Every option that takes a value, of any command (completion skips over those)."""
        seen: dict[str, Option] = {}
        for option in (*self.global_options, *(o for c in self.commands for o in c.options)):
            if option.takes_value:
                seen.setdefault(option.flags[-1], option)
        return tuple(seen.values())


def _kind(action: argparse.Action) -> str:
    if action.choices:
        return "choice"
    if action.dest in ID_DESTS:
        return "id"
    return {"PATH": "file", "DIR": "dir"}.get(str(action.metavar or ""), "text")


def _option(action: argparse.Action) -> Option:
    takes = action.nargs != 0
    metavar = str(action.metavar or action.dest.upper()) if takes else None
    choices = tuple(str(c) for c in action.choices or ())
    if choices and action.metavar is None:
        metavar = "{" + ",".join(choices) + "}"
    return Option(tuple(action.option_strings), action.help or "", metavar, choices, _kind(action))


def _shown(action: argparse.Action) -> bool:
    return action.help != argparse.SUPPRESS and not isinstance(
        action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))


def _positional(action: argparse.Action) -> Positional:
    choices = tuple(str(c) for c in action.choices or ())
    name = "{" + ",".join(choices) + "}" if choices else str(action.metavar or action.dest)
    many = action.nargs in ("*", "+", argparse.REMAINDER)
    optional = action.nargs in ("*", "?", argparse.REMAINDER)
    return Positional(name, action.help or "", choices, _kind(action), many, optional)


def describe(parser: argparse.ArgumentParser) -> ParserInfo:
    globals_ = tuple(_option(a) for a in parser._actions if a.option_strings and _shown(a))
    commands = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            options = tuple(_option(a) for a in sub._actions if a.option_strings and _shown(a))
            positionals = tuple(_positional(a) for a in sub._actions if not a.option_strings and _shown(a))
            commands.append(Command(name, helps.get(name, sub.description or ""), options, positionals))
    return ParserInfo(parser.prog, parser.description or "", globals_, tuple(commands))
