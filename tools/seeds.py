"""`make check-seeds`: re-execute chapters on seeds nobody looked at and list every claim that fails.

    python -m tools.seeds [--shift 1000] [chapters/NN_slug.py ...]

Every chapter takes its seeds from ``dlcourse.setup`` and ``dlcourse.seeds``, which add the environment
variable ``DLCOURSE_SEED_SHIFT``. This tool executes each chapter (from its .py, outputs are not stored)
with that variable set, after rewriting every ``assert`` of the ``# NBVAL_CHECK_OUTPUT`` cell so that a
failing claim is recorded instead of stopping the cell: the report lists every claim that fails, not
only the first. A cell that raises elsewhere is reported too (the chapter could not reach its claims).
Not part of `make test`: a claim that fails here is weakened or explained in the chapter, never re-tuned
to the new seeds.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "NBVAL_CHECK_OUTPUT"
RECORD = "_dlcourse_failed_claims"


class _AssertRecorder(ast.NodeTransformer):
    """``assert test, msg`` -> ``if not test: RECORD.append((line, source, msg))``."""

    def __init__(self, source: str):
        self.source = source

    def visit_Assert(self, node: ast.Assert):
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        msg = node.msg if node.msg is not None else ast.Constant("")
        call = ast.parse(f"{RECORD}.append(({node.lineno}, {text!r}, None))").body[0]
        call.value.args[0].elts[2] = ast.Call(ast.Name("str", ast.Load()), [msg], [])
        return ast.copy_location(ast.If(ast.UnaryOp(ast.Not(), node.test), [call], []), node)


def record_claims(source: str) -> str:
    """The claims cell with every assert turned into a recorded check, then a summary printout."""
    tree = _AssertRecorder(source).visit(ast.parse(source))
    ast.fix_missing_locations(tree)
    return (f"{RECORD} = []\n" + ast.unparse(tree)
            + f"\nprint('CLAIMS-FAILED', len({RECORD}))\nfor _l, _s, _m in {RECORD}:\n"
              f"    print('CLAIM-FAILED line', _l, ':', _s.splitlines()[0][:150], '|', _m[:300])\n")


def check_chapter(path: Path, shift: int, timeout: int = 300, retries: int = 1) -> list[str]:
    """Execute one chapter with DLCOURSE_SEED_SHIFT=shift; return its failing claims and errors.

    A cell that runs past ``timeout`` seconds restarts the chapter once (as `make notebooks` does: on a
    busy machine a kernel very rarely loses the message that ends a cell, and nbclient then waits).
    """
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    os.environ.update(DLCOURSE_SEED_SHIFT=str(shift), DLCOURSE_PROGRESS="0", MPLBACKEND="Agg")
    for attempt in range(retries + 1):
        nb = jupytext.read(path)
        for cell in nb.cells:
            if cell.cell_type == "code" and MARK in cell.source:
                cell.source = record_claims(cell.source)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            break
        except (CellTimeoutError, TimeoutError):
            if attempt == retries:
                return [f"a cell ran past {timeout} s twice: the chapter could not reach its claims"]
            print(f"{path.name}: a cell ran past {timeout} s; restarting the chapter once", flush=True)
    problems = []
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} raised {out['ename']}: {out['evalue'][:300]}")
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            problems += [line for line in text.splitlines() if line.startswith("CLAIM-FAILED")]
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.seeds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shift", type=int, default=int(os.environ.get("DLCOURSE_SEED_SHIFT", "1000") or 1000))
    parser.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    paths = [Path(p).resolve() for p in args.chapters] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
    failed = 0
    for path in paths:
        t0 = time.perf_counter()
        problems = check_chapter(path, args.shift)
        failed += bool(problems)
        verdict = "all claims hold" if not problems else f"{len(problems)} problem(s)"
        print(f"{path.name} (seed shift {args.shift}, {time.perf_counter() - t0:.0f} s): {verdict}")
        for p in problems:
            print("   ", p)
        sys.stdout.flush()
    print(f"{failed} of {len(paths)} chapters have claims that fail on shifted seeds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
