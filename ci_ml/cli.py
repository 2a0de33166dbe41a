"""The command line: argparse tree, dispatch, and THE error boundary.

Only `main` catches exceptions and turns them into exit codes: 2 for user errors, 1 for
failures, 130 for Ctrl-C. A traceback is shown only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence

from ci_ml import __version__
from ci_ml.config import OPTIONS
from ci_ml.errors import CiMlError
from ci_ml.launch import after_command

log = logging.getLogger("ci_ml")

# Command -> its one-line help. A command's module is imported only when that command runs
# (or for --help), so `ci-ml plan` never pays for the report, GitHub or plotting code.
COMMANDS = {
    "plan": "show which stages changed, which are affected, and why",
    "run": "run the stages that changed and restore the rest from the cache",
    "report": "write the PR report (markdown and plots); fail when a metric gate fails",
    "comment": "post the report: PR comment (updated in place), images, check run",
    "diff": "show the metrics and params diff between base and head",
    "status": "show stages whose inputs changed since the last local run",
    "push": "upload results of runs that did not push",
    "pull": "restore cached outputs of stages into the workspace",
    "gc": "remove cache entries that no chosen ref needs (dry run by default)",
    "dag": "print the stage graph",
    "init": "write workflow templates and a starter ci-ml.yaml",
    "keygen": "make an Ed25519 key pair for signing trusted manifests",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (none for `--help` or `--version`,
    which show the commands' one-line summaries)."""
    parser = argparse.ArgumentParser(
        prog="ci-ml",
        description="CI for ML pipelines: plan what a change touched, run only that, "
        "restore the rest from a cache, report the metric diff.",
    )
    parser.add_argument("--version", action="version", version=f"ci-ml {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    common.add_argument(
        "-C",
        "--pipeline",
        metavar="DIR",
        default=None,
        help="directory of the pipeline (default: the current directory; env CI_ML_PIPELINE)",
    )
    for option in OPTIONS:
        if option.flag:
            common.add_argument(
                f"--{option.name}", default=None, help=f"{option.help}; env {option.env_var}"
            )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        if name == command:
            importlib.import_module(f"ci_ml.commands.{name}").add_parser(sub, common)
        else:
            sub.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = after_command(list(sys.argv[1:] if argv is None else argv))
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    try:
        return int(args.run(args, env))
    except CiMlError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into a clean exit
        if args.debug:
            traceback.print_exc()
        if isinstance(e, ModuleNotFoundError):
            from ci_ml.github import missing_report_set

            missing = missing_report_set(e.name or "", args.command)
            if missing:
                print(f"error: {missing}", file=sys.stderr)
                return 2
        print(f"internal error: {type(e).__name__}: {e} (rerun with --debug)", file=sys.stderr)
        return 1


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s: %(message)s" if debug else "%(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
