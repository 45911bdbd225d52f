"""The `archdsl` command: argument parsing, I/O and exit codes, no logic of its own.

Exit status: 0 ok, 1 the spec has errors, 2 the command line is wrong (or a
framework it needs is not installed), 3 an internal error (a bug in archdsl).
Generated output is the only thing on stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from archdsl.common.diagnostics import ArchError, render_all
from archdsl.common.frameworks import FrameworkMissing
from archdsl.ir.model import Model, Program, SelectionError
from archdsl.pipeline import decode_source, parse, read_source
from archdsl.version import __version__

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


class OutputError(Exception):
    """An output file that cannot be written: reported like a spec error (exit 1)."""


def _use_color(stream, args: argparse.Namespace) -> bool:
    if getattr(args, "no_color", False) or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def load_program(path: str, args: argparse.Namespace | None = None) -> Program:
    if path == "-":
        program = parse(decode_source(sys.stdin.buffer.read(), "<stdin>"), "<stdin>")
    else:
        program = parse(read_source(path), path)
    if program.warnings:
        # Warnings and notes go to stderr, with --json too (which also lists them on stdout).
        color = args is not None and _use_color(sys.stderr, args)
        sys.stderr.write(render_all(program.warnings, program.source, color=color) + "\n")
    return program


@contextlib.contextmanager
def _source_for_errors(program: Program):
    """Errors found after parsing (a target that cannot express a layer) still show the source line."""
    try:
        yield
    except ArchError as error:
        if error.source is None:
            raise ArchError(error.diagnostics, program.source) from None
        raise


def selected_models(program: Program, name: str | None) -> list[Model]:
    """`check` looks at every model unless one is named."""
    return list(program.models) if name is None else [program.model(name)]


# ---------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    program = load_program(args.file, args)
    models = selected_models(program, args.model)
    if args.json:
        import json

        data: dict[str, object] = {"models": [_model_json(m, args.layout, args.depth, program) for m in models]}
        if program.warnings:  # also on stderr, as text; here for tools, each with its "severity"
            data["warnings"] = [warning.to_json() for warning in program.warnings]
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    from archdsl.cli.tables import print_check_tables

    with _source_for_errors(program):
        print_check_tables(
            models,
            program.filename,
            sys.stdout,
            _use_color(sys.stdout, args),
            macs=args.macs,
            layout=args.layout,
            depth=args.depth,
        )
    return EXIT_OK


def _model_json(model: Model, layout: str, depth: int | None, program: Program) -> dict[str, object]:
    """The model's JSON; "blocks" (the block calls with their subtotals) only for a model that makes any."""
    from archdsl.tools.summary import blocks_json

    data = model.to_json()
    blocks = blocks_json(model, depth)
    if blocks:
        data["blocks"] = blocks
    if layout == "torch":
        from archdsl.tools.summary import torch_json, torch_layouts

        with _source_for_errors(program):
            data.update(torch_json(model, torch_layouts(model)))
    return data


def write_output(
    text: str | bytes, destination: str | None, inputs: Sequence[str] = (), in_place: bool = False
) -> None:
    """stdout, or a file replaced atomically: a failure never leaves half a file behind.

    bytes (a PNG) are written as they are, text as UTF-8 (newlines untranslated).
    `in_place` (`fmt --write`) means replacing an input file on purpose: the file a
    symbolic link names is replaced, and it keeps its permissions.
    """
    if destination is None or destination == "-":
        if isinstance(text, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(text)
        return
    target = os.path.realpath(destination) if in_place else os.path.abspath(destination)
    for source in () if in_place else inputs:
        if source != "-" and os.path.exists(source) and os.path.exists(target) and os.path.samefile(source, target):
            raise UsageError(f"refusing to overwrite the input file '{destination}' with generated code")
    if os.path.isdir(target):
        raise UsageError(f"'{destination}' is a directory; give a file name such as model.py")
    folder = os.path.dirname(target)
    import tempfile  # only when writing a file: it costs a cold `archdsl check` 3 ms

    try:
        handle, temporary = tempfile.mkstemp(prefix=".archdsl-", suffix=".tmp", dir=folder)
    except OSError as error:
        raise OutputError(f"cannot write '{destination}': {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        os.chmod(temporary, os.stat(target).st_mode & 0o7777 if in_place else 0o644)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write '{destination}': {error.strerror or error}") from None
        raise


def write_result(text: str | bytes, args: argparse.Namespace, kind: str, model: Model) -> None:
    """Write what a command made; a file written is said on stderr, as `wrote PATH (KIND, model NAME)`."""
    write_output(text, args.output, [args.file])
    if args.output not in (None, "-"):
        sys.stderr.write(f"wrote {args.output} ({kind}, model {model.name})\n")


def cmd_generate(args: argparse.Namespace) -> int:
    from archdsl.targets.codegen import generate
    from archdsl.targets.common import output_activation

    program = load_program(args.file, args)
    model = program.model(args.model)
    if args.logits and not (model.layers and output_activation(model.layers[-1])):
        sys.stderr.write(f"archdsl: note: model {model.name} ends in no softmax or sigmoid; --logits changes nothing\n")
    with _source_for_errors(program):
        text = generate(model, args.target, logits=args.logits, flat=args.flat)
    write_result(text, args, args.target, model)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from archdsl.cli.diff_formats import render_diff
    from archdsl.tools.diff import build_diff

    program = load_program(args.file, args)
    model = program.model(args.model)
    to_terminal = args.output in (None, "-")
    color = to_terminal and _use_color(sys.stdout, args)
    with _source_for_errors(program):
        text = render_diff(build_diff(model, flat=args.flat), args.format, color=color)
    write_result(text, args, f"{args.format} diff", model)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from archdsl.tools.diagram import GraphOptions, GraphvizError, UnknownFormat, output_format, render

    try:
        fmt = output_format(args.format, args.output)
    except UnknownFormat as error:
        raise UsageError(str(error)) from None
    if fmt in ("png", "pdf") and args.output in (None, "-") and sys.stdout.isatty():
        raise UsageError(f"refusing to write {fmt.upper()} to a terminal: give -o model.{fmt}, or redirect the output")
    program = load_program(args.file, args)
    model = program.model(args.model)
    options = GraphOptions(rankdir=args.rankdir, dpi=args.dpi, collapse=args.collapse)
    try:
        data = render(model, fmt, options)
    except GraphvizError as error:
        raise OutputError(str(error)) from None
    write_result(data, args, fmt, model)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from archdsl.tools.verify import verify_model

    program = load_program(args.file, args)
    models = selected_models(program, args.model)
    reports = [verify_model(model, args.seed, args.atol, args.rtol) for model in models]
    from archdsl.cli.tables import print_verify_reports

    print_verify_reports(reports, sys.stdout, color=_use_color(sys.stdout, args))
    return EXIT_OK if all(report.ok for report in reports) else EXIT_SPEC


def cmd_layers(args: argparse.Namespace) -> int:
    from archdsl.cli.tables import print_layer_table

    print_layer_table(sys.stdout, color=_use_color(sys.stdout, args))
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from archdsl.tools.formatter import format_source, unified_diff

    if len(args.files) > 1 and not (args.check or args.write or args.diff):
        raise UsageError("give one FILE to print it formatted, or use --check, --write or --diff with several")
    if args.write and "-" in args.files:
        raise UsageError("--write cannot rewrite standard input; leave --write out to print the result")
    status = EXIT_OK
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
                source = decode_source(data, name)
            else:
                source = read_source(path)
                data = b""
                with contextlib.suppress(OSError), open(path, "rb") as stream:
                    data = stream.read(3)
            formatted = format_source(source, name)
        except ArchError as error:
            sys.stderr.write(error.render(color=_use_color(sys.stderr, args)) + "\n")
            status = EXIT_SPEC
            continue
        if data.startswith(b"\xef\xbb\xbf"):  # decoding dropped the byte-order mark; formatting drops it too
            source = "\ufeff" + source
        changed = formatted != source
        if args.diff and changed:
            sys.stdout.write(unified_diff(source, formatted, name))
        if args.check and changed:
            sys.stderr.write(f"would reformat {name}\n")
            status = EXIT_SPEC
        elif args.write and changed:
            try:
                write_output(formatted, path, in_place=True)
            except OutputError as error:  # the other files are still formatted
                sys.stderr.write(f"archdsl: error: {error}\n")
                status = EXIT_SPEC
                continue
            sys.stderr.write(f"reformatted {name}\n")
        elif not (args.check or args.write or args.diff):
            write_output(formatted, None)
    return status


def cmd_lsp(args: argparse.Namespace) -> int:
    """The language server, on stdin and stdout, for an editor to start (docs/editors.md)."""
    try:
        from archdsl.lsp.server import serve
    except ImportError as error:
        if error.name not in ("pygls", "lsprotocol") and not str(error.name).startswith(("pygls.", "lsprotocol.")):
            raise
        raise UsageError(
            "the language server needs pygls, which is not installed: pip install 'archdsl[lsp]'"
        ) from None
    serve()
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_check,
    "generate": cmd_generate,
    "verify": cmd_verify,
    "diff": cmd_diff,
    "graph": cmd_graph,
    "layers": cmd_layers,
    "fmt": cmd_fmt,
    "lsp": cmd_lsp,
}


def _whole_number(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` (up to `high`); argparse prints the message and exits 2."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}: {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more: {text!r}")
        return value

    return whole_number


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archdsl",
        description="Check .arch neural-network specs and generate Keras and PyTorch code from them.",
    )
    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-color", action="store_true", help="plain text even on a terminal (also NO_COLOR)")
    common.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser(
        "check", parents=[common], help="check a spec and show the shape and parameters of every layer"
    )
    check.add_argument("file", metavar="FILE", help="the .arch file, or - for standard input")
    check.add_argument("--model", metavar="NAME", help="check only this model (default: every model)")
    check.add_argument("--json", action="store_true", help="machine-readable output (errors too, on stdout)")
    check.add_argument(
        "--macs",
        action="store_true",
        help="add each layer's multiply-adds per sample, as torchinfo counts them (symbolic sizes at 16)",
    )
    check.add_argument(
        "--layout",
        choices=["keras", "torch"],
        default="keras",
        help="show shapes as Keras holds them (channels last, the default) or as the generated PyTorch code does",
    )
    check.add_argument(
        "--depth",
        type=_whole_number(0),
        metavar="N",
        help="show block calls nested to depth N, each call at depth N as one row with its subtotals "
        "(0: the model's own layers and calls; torchinfo's depth N+1); default: a row per layer",
    )

    generate = sub.add_parser("generate", parents=[common], help="generate Keras or PyTorch code for a model")
    generate.add_argument("file", metavar="FILE", help="the .arch file, or - for standard input")
    generate.add_argument(
        "--target", "-t", required=True, choices=["keras", "torch"], help="the framework to generate code for"
    )
    generate.add_argument("--model", metavar="NAME", help="the model to generate (needed when the file has several)")
    generate.add_argument("-o", "--output", metavar="PATH", help="write to PATH (atomically) instead of stdout")
    generate.add_argument(
        "--logits",
        action="store_true",
        help="leave out the final softmax or sigmoid, for a loss that applies it (nn.CrossEntropyLoss)",
    )
    generate.add_argument(
        "--flat",
        action="store_true",
        help="every layer in the model's own class or function, with no class or function per block",
    )

    diff = sub.add_parser("diff", parents=[common], help="the Keras and PyTorch code of a model, side by side")
    diff.add_argument("file", metavar="FILE", help="the .arch file, or - for standard input")
    diff.add_argument("--model", metavar="NAME", help="the model to show (needed when the file has several)")
    diff.add_argument(
        "--format",
        "-f",
        default="side-by-side",
        choices=["side-by-side", "unified", "markdown", "html"],
        help="side-by-side (default), unified, markdown or html",
    )
    diff.add_argument("-o", "--output", metavar="PATH", help="write to PATH (atomically) instead of stdout")
    diff.add_argument(
        "--flat",
        action="store_true",
        help="layer by layer, as `generate --flat` writes the code, instead of each block once",
    )

    graph = sub.add_parser(
        "graph", parents=[common], help="draw a model: one box per layer, shapes on the edges, blocks as clusters"
    )
    graph.add_argument("file", metavar="FILE", help="the .arch file, or - for standard input")
    graph.add_argument("--model", metavar="NAME", help="the model to draw (needed when the file has several)")
    graph.add_argument(
        "--format",
        "-f",
        choices=["dot", "svg", "png", "pdf"],
        help="dot (needs no Graphviz program), svg, png or pdf; default: from the -o suffix, else dot",
    )
    graph.add_argument("-o", "--output", metavar="PATH", help="write to PATH (atomically) instead of stdout")
    graph.add_argument(
        "--rankdir",
        choices=["TB", "LR", "BT", "RL"],
        default="TB",
        help="direction of the flow: TB top to bottom (default), LR left to right (wide screens, slides)",
    )
    graph.add_argument(
        "--dpi", type=_whole_number(10, 1200), metavar="N", help="resolution of a PNG (Graphviz's default: 96)"
    )
    graph.add_argument(
        "--collapse", action="store_true", help="one box per block call instead of one per layer inside it"
    )

    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="run the generated Keras and PyTorch models with the same weights on the same random input"
        " and compare every layer's output",
        description="Build both generated models, copy the Keras weights into the PyTorch model, run both on the"
        " same batch of random inputs in inference mode, and compare the output of every layer within --atol and"
        " --rtol. A test on random inputs, not a proof: other --seed values draw other weights and inputs.",
    )
    verify.add_argument("file", metavar="FILE", help="the .arch file, or - for standard input")
    verify.add_argument("--model", metavar="NAME", help="verify only this model (default: every model)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    verify.add_argument("--atol", type=_non_negative_float, default=1e-5, help="absolute tolerance (default 1e-5)")
    verify.add_argument(
        "--rtol",
        type=_non_negative_float,
        default=1e-4,
        help="tolerance relative to the largest Keras activation of a layer (default 1e-4)",
    )

    sub.add_parser("layers", parents=[common], help="list the layers the language knows")

    fmt = sub.add_parser("fmt", parents=[common], help="rewrite specs in the canonical layout (docs/fmt.md)")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="the .arch files, or - for standard input")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 naming the files that would change")
    mode.add_argument("--write", action="store_true", help="rewrite the files that change, in place")
    fmt.add_argument("--diff", action="store_true", help="print a unified diff of what would change")

    lsp = sub.add_parser(
        "lsp",
        parents=[common],
        help="run the language server for editors, on stdin and stdout (docs/editors.md)",
        description="The language server an editor starts: diagnostics as you type, shapes and parameter counts"
        " on hover and at the end of each line, completion, definitions, references, renaming, formatting and"
        " quick fixes. It speaks the Language Server Protocol on stdin and stdout until the editor ends it.",
    )
    lsp.add_argument("--stdio", action="store_true", help="use stdin and stdout (the default; editors pass it)")
    return parser


def _report_spec_error(error: ArchError, args: argparse.Namespace) -> int:
    # Neither a wrong model name nor a missing framework is the spec's fault.
    code = EXIT_USAGE if isinstance(error, SelectionError | FrameworkMissing) else EXIT_SPEC
    if getattr(args, "json", False):
        import json

        json.dump(error.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stderr.write(error.render(color=_use_color(sys.stderr, args)) + "\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        # `archdsl` alone, what a newcomer types first: the whole help, not one line of usage.
        # Still a usage error (stderr, exit 2): a script that runs it without a command has a bug.
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ArchError as error:
        return _report_spec_error(error, args)
    except UsageError as error:
        sys.stderr.write(f"archdsl: error: {error}\n")
        return EXIT_USAGE
    except OutputError as error:
        sys.stderr.write(f"archdsl: error: {error}\n")
        return EXIT_SPEC
    except KeyboardInterrupt:
        sys.stderr.write("archdsl: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`archdsl check x | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if args.debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(
            f"archdsl: internal error: {type(error).__name__}: {error}\n"
            "this is a bug in archdsl; please report it with the spec that caused it"
            + ("" if args.debug else " (run with --debug for the traceback)")
            + "\n"
        )
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())
