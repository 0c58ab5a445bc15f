/** Tool buttons and frame-level actions (undo/redo, copy to next, save, submit, help). */
import type { ToolName } from "../canvas/tools/types";
import { SaveStatus } from "./SaveStatus";
import type { AnnotatorSession, SessionSnapshot } from "./session";

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
  onFit: () => void;
  onUndo: () => void;
  onRedo: () => void;
}

const TOOLS: { tool: ToolName; testId: string; label: string; key: string }[] = [
  { tool: "brush", testId: "tool-brush", label: "Brush", key: "B" },
  { tool: "eraser", testId: "tool-eraser", label: "Eraser", key: "E" },
  { tool: "polygon", testId: "tool-polygon", label: "Polygon", key: "P" },
  { tool: "samClick", testId: "tool-sam", label: "SAM", key: "S" },
  { tool: "select", testId: "tool-select", label: "Select", key: "V" },
];

export function Toolbar({ session, snap, onFit, onUndo, onRedo }: Props) {
  const disabled = !snap.canEdit;
  const last = snap.frameIndex >= snap.frames.length - 1;
  return (
    <div className="ann-toolbar" role="toolbar" aria-label="Annotation tools">
      <div className="ann-group">
        {TOOLS.map(({ tool, testId, label, key }) => (
          <button
            key={tool}
            type="button"
            className={`btn btn-small ann-tool${snap.tool === tool ? " ann-tool-active" : ""}`}
            data-testid={testId}
            aria-pressed={snap.tool === tool}
            disabled={disabled && tool !== "select"}
            title={`${label} (${key})`}
            onClick={() => session.setTool(tool)}
          >
            {label}
          </button>
        ))}
        <button
          type="button"
          className={`btn btn-small ann-tool${snap.samNegative ? " ann-tool-negative" : ""}`}
          data-testid="tool-sam-negative"
          aria-pressed={snap.samNegative}
          disabled={disabled}
          title="SAM clicks add negative (background) points (N); Alt/Shift-click or right-click does too"
          onClick={() => session.toggleSamNegative()}
        >
          {snap.samNegative ? "− negative" : "+ positive"}
        </button>
        {snap.samBusy ? (
          <span className="ann-busy" data-testid="sam-busy">
            SAM…
          </span>
        ) : null}
      </div>
      <label className="ann-group ann-size" title="Brush/eraser size in frame pixels ([ and ])">
        Size
        <input
          type="range"
          min={1}
          max={120}
          value={Math.min(120, snap.brushSize)}
          data-testid="brush-size"
          disabled={disabled}
          onChange={(e) => session.setBrushSize(Number(e.target.value))}
        />
        <span className="mono">{snap.brushSize}px</span>
      </label>
      <div className="ann-group">
        <button type="button" className="btn btn-small" data-testid="undo" disabled={!snap.canUndo} onClick={onUndo} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" className="btn btn-small" data-testid="redo" disabled={!snap.canRedo} onClick={onRedo} title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
        <button
          type="button"
          className="btn btn-small"
          data-testid="copy-next"
          disabled={disabled || !snap.selectedIds.length || last}
          onClick={() => session.copySelectedToNext()}
          title="Copy the selected mask(s) to the next frame (C)"
        >
          Copy → next
        </button>
        <button type="button" className="btn btn-small" data-testid="zoom-fit" onClick={onFit} title="Fit the frame (F)">
          Fit
        </button>
      </div>
      <div className="ann-spacer" />
      {snap.busy ? (
        <span className="ann-busy" data-testid="busy">
          {snap.busy}
        </span>
      ) : null}
      <SaveStatus status={snap.save} onRetry={() => session.retryNow()} />
      <div className="ann-group">
        <button type="button" className="btn btn-small" data-testid="save" disabled={disabled} onClick={() => void session.saveNow()} title="Save now (Ctrl+S)">
          Save
        </button>
        <button
          type="button"
          className="btn btn-small btn-primary"
          data-testid="submit"
          disabled={disabled || !!snap.busy}
          onClick={() => void session.submit()}
          title="Submit this frame for review"
        >
          Submit
        </button>
        <button type="button" className="btn btn-small" data-testid="help-toggle" onClick={() => session.toggleHelp()} title="Keyboard shortcuts (?)">
          ?
        </button>
      </div>
    </div>
  );
}
