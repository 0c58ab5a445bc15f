/**
 * Mask propagation: track the selected instances of this frame forward or backward through the clip
 * (to an end frame), follow the job, then review the result (it shows in the overlay and on the
 * filmstrip) and accept it on this frame or on the whole range. Silent instances (visible, not
 * sounding: background in AVS ground truth) are left out unless "include silent frames" is ticked.
 */
import { acceptedInstances, framesText, isFinished, markText } from "../model/propagation";
import type { AnnotatorSession, PropagationRun, SessionSnapshot } from "./session";
import { SilentIcon } from "./SilentIcon";

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
}

function runText(run: PropagationRun): string {
  switch (run.status) {
    case "starting":
      return "Starting the propagation…";
    case "queued":
      return `Queued${run.message ? `: ${run.message}` : "…"}`;
    case "running":
      return `Propagating… ${Math.round(run.progress * 100)}%${run.message ? ` (${run.message})` : ""}`;
    case "succeeded":
      return "Propagation done: the result is in the overlay.";
    case "failed":
      return `The propagation failed: ${run.error || run.message || "no reason given"}`;
  }
}

export function PropagationPanel({ session, snap }: Props) {
  if (!snap.canPropagate) return null;
  const frameCount = snap.frames.length;
  const selected = snap.selectedIds.length;
  const run = snap.propagationRun;
  const running = !!run && !isFinished(run.status);
  const propagation = snap.propagation;
  const here = snap.frame ? propagation?.frames.find((f) => f.frame_index === snap.frame!.index) : undefined;
  const mark = snap.frameMarks[snap.frameIndex];
  const isSource = !!propagation && snap.frame?.index === propagation.source_frame_index;
  const rangeCount = propagation ? propagation.frames.filter((f) => f.frame_index !== propagation.source_frame_index).length : 0;
  const acceptable = acceptedInstances(here, snap.includeSilent).length;
  return (
    <section className="ann-panel ann-propagate" aria-label="Propagate" data-testid="propagation-panel">
      <header className="ann-panel-head">
        <h3>Propagate</h3>
        <span className="muted ann-empty" data-testid="propagate-selected">
          {selected ? `${selected} selected` : "nothing selected"}
        </span>
      </header>
      <div className="ann-row">
        <select
          data-testid="propagate-direction"
          aria-label="Direction"
          value={snap.propagateDirection}
          disabled={running}
          onChange={(e) => session.setPropagateDirection(e.target.value === "backward" ? "backward" : "forward")}
        >
          <option value="forward">forward →</option>
          <option value="backward">← backward</option>
        </select>
        <label className="ann-inline" title="The last frame to propagate to (default: the clip's end going forward, its start going backward)">
          to frame
          <input
            type="number"
            data-testid="propagate-end"
            min={1}
            max={frameCount}
            value={snap.propagateEnd + 1}
            disabled={running}
            onChange={(e) => session.setPropagateEnd(e.target.value === "" ? null : Number(e.target.value) - 1)}
          />
          <span className="muted">of {frameCount}</span>
        </label>
      </div>
      <div className="ann-row">
        <button
          type="button"
          className="btn btn-small btn-primary"
          data-testid="propagate-start"
          disabled={running || !!snap.busy}
          onClick={() => void session.startPropagation()}
          title="Track the selected masks through the clip (T)"
        >
          Propagate{selected > 1 ? ` ${selected} masks` : ""}
        </button>
        {selected === 0 ? <span className="muted ann-empty">Select masks in the list above (Shift-click adds).</span> : null}
      </div>
      {snap.propagationError ? (
        <p className="ann-error" role="alert" data-testid="propagation-error">
          {snap.propagationError}
        </p>
      ) : null}
      {run ? (
        <div data-testid="propagation-status" data-status={run.status} role="status">
          <p className={run.status === "failed" ? "ann-error" : "ann-empty"}>{runText(run)}</p>
          {running ? (
            <div className="ann-progress" aria-hidden="true">
              <div className="ann-progress-bar" style={{ width: `${Math.round(run.progress * 100)}%` }} />
            </div>
          ) : null}
        </div>
      ) : null}
      {propagation ? (
        <div className="ann-propagation-review" data-testid="propagation-review" data-propagation={propagation.id}>
          <p className="ann-empty">
            <strong>Propagation #{propagation.id}</strong>{" "}
            <span className="muted">
              frames {propagation.start_frame_index + 1}–{propagation.end_frame_index + 1}, {propagation.tracker}
            </span>
          </p>
          <div className="ann-propagation-frame" data-testid="propagation-frame">
            {isSource ? (
              <span className="muted">This frame is the source: its masks were propagated.</span>
            ) : !here ? (
              <span className="muted">Not in the propagated range.</span>
            ) : (
              <>
                <span>
                  {here.instances.length} tracked mask{here.instances.length === 1 ? "" : "s"} here
                  {here.instances.length
                    ? `: ${here.instances.map((i) => (i.area === 0 ? `${i.label} lost` : `${i.label} ${i.confidence.toFixed(2)}`)).join(", ")}`
                    : ""}
                </span>
                {mark?.silentLabels.length ? (
                  <span className="ann-flag ann-flag-silent" data-testid="propagation-silent-here" title={markText(mark)}>
                    <SilentIcon /> silent here: {mark.silentLabels.join(", ")} (visible, not sounding: background in AVS)
                  </span>
                ) : null}
                {mark?.check ? (
                  <span className="ann-flag ann-flag-check" data-testid="propagation-check-here">
                    ⚠ check: tracking confidence dropped
                  </span>
                ) : null}
              </>
            )}
          </div>
          <label className="ann-inline" title="Silent instances are background in AVS ground truth; tick to accept them anyway">
            <input
              type="checkbox"
              data-testid="propagation-include-silent"
              checked={snap.includeSilent}
              onChange={(e) => session.setIncludeSilent(e.target.checked)}
            />
            include silent frames
          </label>
          <div className="ann-row">
            <button
              type="button"
              className="btn btn-small"
              data-testid="propagation-accept-frame"
              disabled={!snap.canEdit || !!snap.busy || isSource || acceptable === 0}
              onClick={() => session.acceptPropagationFrame()}
              title="Put this frame's propagated masks into its annotation (undoable)"
            >
              Accept on this frame
            </button>
            <button
              type="button"
              className="btn btn-small"
              data-testid="propagation-accept-range"
              disabled={!!snap.busy || rangeCount === 0}
              onClick={() => void session.acceptPropagationRange()}
              title="Accept on every propagated frame but the source (one undo step)"
            >
              Accept range ({rangeCount} frame{rangeCount === 1 ? "" : "s"})
            </button>
          </div>
          {snap.staleFrames.length ? (
            <p className="ann-stale" data-testid="propagation-stale">
              Not accepted: {framesText(snap.staleFrames)} changed on the server; reloaded. Check, then accept again.
            </p>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
