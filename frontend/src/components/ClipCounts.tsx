import type { Project } from "../hooks/studioApi";
import { ProgressBar } from "./ProgressBar";

type Counts = Project["clip_counts"];

/** Per-status clip counts as small badges (zero counts hidden). */
export function ClipCountBadges({ counts }: { counts: Counts }) {
  const shown = (["ready", "processing", "uploaded", "failed"] as const).filter((s) => counts[s] > 0);
  if (shown.length === 0) return <span className="muted">no clips</span>;
  return (
    <span className="badge-row">
      {shown.map((status) => (
        <span key={status} className={`badge badge-${status}`} title={`${counts[status]} ${status}`}>
          {counts[status]} {status}
        </span>
      ))}
    </span>
  );
}

/** Ready clips out of all clips. */
export function ReadyProgress({ counts }: { counts: Counts }) {
  const value = counts.total > 0 ? counts.ready / counts.total : 0;
  return (
    <ProgressBar
      value={value}
      label={`${counts.ready} / ${counts.total}`}
      tone={counts.failed > 0 && counts.ready + counts.failed === counts.total ? "danger" : "success"}
      active={counts.processing > 0 || counts.uploaded > 0}
      title="Clips ready to annotate"
    />
  );
}
