/**
 * A stale save (409): someone saved the frame first. Shows what differs between their version and
 * ours, then either loads theirs (ours stays in the stash and one undo away) or saves ours on top.
 */
import { useMemo } from "react";
import { docDiff, docOverlap } from "../model/diff";
import type { SaveConflict } from "../model/save";
import type { AnnotatorSession } from "./session";

interface Props {
  session: AnnotatorSession;
  conflict: SaveConflict;
}

export function ConflictDialog({ session, conflict }: Props) {
  const docs = useMemo(() => session.conflictDocs(), [session, conflict]);
  const rows = useMemo(() => (docs ? docDiff(docs.theirs, docs.yours) : []), [docs]);
  const overall = useMemo(() => (docs ? docOverlap(docs.theirs, docs.yours) : null), [docs]);
  const current = conflict.current;
  const when = current?.updated_at ? new Date(current.updated_at).toLocaleString() : null;
  return (
    <div className="ann-modal-backdrop">
      <div className="ann-modal" role="dialog" aria-modal="true" aria-labelledby="conflict-title" data-testid="conflict-dialog">
        <h2 id="conflict-title">Someone else saved {docs?.frameName ?? "this frame"} first</h2>
        <p>{conflict.message}</p>
        <p className="muted">
          Theirs: version {conflict.currentVersion ?? "—"}
          {current?.author ? ` by ${current.author.username}` : ""}
          {when ? `, ${when}` : ""}
          {current?.status ? ` (${current.status})` : ""}. Yours: based on version {conflict.basedOn ?? "—"}, not saved.
        </p>
        <table className="table ann-diff" data-testid="conflict-diff">
          <thead>
            <tr>
              <th>Label</th>
              <th>Theirs</th>
              <th>Yours</th>
              <th>Overlap (IoU)</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={4} className="muted">
                  Both versions are empty.
                </td>
              </tr>
            ) : (
              rows.map((r) => (
                <tr key={r.label}>
                  <td>{r.label}</td>
                  <td>
                    {r.theirsInstances} inst., {r.theirsArea} px
                  </td>
                  <td>
                    {r.yoursInstances} inst., {r.yoursArea} px
                  </td>
                  <td className={r.iou < 0.999 ? "ann-diff-changed" : undefined}>{r.iou.toFixed(3)}</td>
                </tr>
              ))
            )}
            {overall && rows.length > 1 ? (
              <tr className="ann-diff-total">
                <td>All labels</td>
                <td>{overall.theirsArea} px</td>
                <td>{overall.yoursArea} px</td>
                <td className={overall.iou < 0.999 ? "ann-diff-changed" : undefined}>{overall.iou.toFixed(3)}</td>
              </tr>
            ) : null}
          </tbody>
        </table>
        <div className="ann-row ann-modal-actions">
          <button type="button" className="btn" data-testid="conflict-reload" onClick={() => session.resolveConflictReload()}>
            Load theirs (keep mine in undo)
          </button>
          <button type="button" className="btn btn-primary" data-testid="conflict-overwrite" onClick={() => void session.resolveConflictOverwrite()}>
            Save mine on top
          </button>
        </div>
      </div>
    </div>
  );
}
