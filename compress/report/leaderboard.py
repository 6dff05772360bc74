"""The report's leaderboard: the run's best goals with their ids (the numbers `export RUN --pick ID` takes), the
reductions that made each, and a link to its node in the search tree."""
from __future__ import annotations

from compress.report.doc import Doc, ms
from compress.report.run import Run
from compress.report.uncertainty import auc_text


def node_anchor(order: int) -> str:
    """The id of the search tree's line for the order-th evaluation (#order)."""
    return f"node-{order}"


def leaderboard_section(doc: Doc, run: Run) -> None:
    doc.h("Leaderboard")
    board = run.summary.leaderboard if run.summary else ()
    if not board:
        doc.p("No leaderboard: " + ("the run found no goal." if run.summary else
                                    "it is written to `summary.json` when the search ends."))
        return
    order = {r["key"]: i for i, r in enumerate(run.rows, 1)}
    shared = common_start([r.reductions for r in board]) if len(board) > 1 else 0
    winner = run.summary.final.key if run.summary.final else None
    rows = []
    for r in board:
        row, at = run.row(r.key), order.get(r.key)
        rows.append([
            f"**{r.rank}**", f"[#{at}](#{node_anchor(at)})" if at else "-",
            auc_text(r.val_auc, (row or {}).get("val")),
            "-" if r.fine_tuned_val_auc is None else f"{r.fine_tuned_val_auc:.4f}",
            f"{r.flops / 1e6:.3f} M", f"{r.params:,}", ms(r.latency_s), f"{r.arena_bytes:,} B",
            f"{r.flash_bytes:,} B", "winner" if r.key == winner else "",
            " > ".join((["(the shared start)"] if shared else []) + list(r.reductions[shared:])) or "none"])
    doc.table(["id", "node", "val AUC (search) [95 % CI]", "val AUC (fine-tuned)", "FLOPs", "params",
               "est. latency", "model arena (est.)", "model flash (est.)", "chosen", "reductions from the baseline"],
              rows)
    if shared:
        doc.p(f"Every goal here begins with the same {shared} reductions (the shared start): "
              + " > ".join(board[0].reductions[:shared]) + ".")
    doc.p("Goals ranked by validation AUC in the search; the finalists were fine-tuned and the best of them on "
          "validation data won (test data chose nothing). **id** is the rank the terminal prints and the number "
          "`python -m compress export RUN --pick ID` takes to deploy that goal; **node** links to its line in the "
          "search tree. Arena and flash are the model's own, before the runtime allowances (see the memory budget).")


def common_start(paths) -> int:
    """How many leading reductions every path shares."""
    n = 0
    while all(len(p) > n for p in paths) and len({p[n] for p in paths}) == 1:
        n += 1
    return n
