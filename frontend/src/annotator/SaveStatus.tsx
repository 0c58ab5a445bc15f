/** The save indicator: "Saved" / "Saving…" / "Unsaved changes" / a readable error with retry. */
import { useEffect, useState } from "react";
import { describeSaveStatus, type FrameSaveStatus } from "../model/save";

interface Props {
  status: FrameSaveStatus;
  onRetry: () => void;
}

export function SaveStatus({ status, onRetry }: Props) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (status.kind !== "retrying") return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [status.kind]);
  const failed = status.kind === "retrying" || status.kind === "error" || status.kind === "conflict";
  return (
    <span className={`ann-save ann-save-${status.kind}`} role="status" aria-live="polite">
      <span data-testid="save-status" data-state={status.kind}>
        {describeSaveStatus(status, status.kind === "retrying" ? now : Date.now())}
      </span>
      {failed && status.kind !== "conflict" ? (
        <button type="button" className="btn btn-small" onClick={onRetry} data-testid="save-retry">
          Retry now
        </button>
      ) : null}
    </span>
  );
}
