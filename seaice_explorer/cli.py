"""The ``seaice-explorer`` command. Each sub-command lives in its own module and is imported lazily.

A command module defines ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import SeaIceInputError
from .runtime import configure_allocator

#: sub-command -> (module, one-line help). An explicit registry, no reflection.
COMMANDS: dict[str, tuple[str, str]] = {
    "reference": ("seaice_explorer.data.reference", "write the neXtSIM-like default reference"),
    "prepare": ("seaice_explorer.data.prepare_cli", "many input files -> one chunked Zarr training store"),
    "moorings": ("seaice_explorer.data.moorings", "write synthetic neXtSIM-layout Moorings files on a CREG025 grid"),
    "stats": ("seaice_explorer.evaluation.stats_cli", "per-state statistics of any readable file, as JSON"),
    "train": ("seaice_explorer.training.cli", "train a VAE, data-space or latent diffusion model"),
    "generate": ("seaice_explorer.diffusion.cli", "generate sea-ice states with a shipped backend"),
    "animate": ("seaice_explorer.diffusion.animate_cli", "one sample's denoising as an animated GIF / MP4 for slides"),
    "assimilate": ("seaice_explorer.assimilation.cli", "posterior states of a backend given observations (DPS, MMPS, RePaint)"),
    "evaluate": ("seaice_explorer.evaluation.evaluate", "paper-style comparison of backends vs a reference"),
    "assimilation-report": ("seaice_explorer.evaluation.assimilation_cli", "score observation-guided ensembles on held-out 2019 days against baselines"),
    "bench": ("seaice_explorer.bench", "time sampling and training, side by side"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] not in COMMANDS:
        lines = [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: seaice-explorer COMMAND [options]\n\ncommands:\n" + "\n".join(lines))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    name = argv[0]
    configure_allocator()  # before torch allocates anything: the fast allocator without LD_PRELOAD
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"seaice-explorer {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except SeaIceInputError as err:  # the one boundary: bad input is a message, a traceback is a bug
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system refused (full disk, permissions, a path that vanished)
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}. Check the path, its permissions and the free space",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
