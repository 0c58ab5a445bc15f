import { type FormEvent, useState } from "react";
import { Link } from "react-router-dom";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatMetric } from "../../components/format";
import { type ReviewBatch, selectReviewBatch } from "../../hooks/studioApi";
import { useAction } from "../../hooks/useAction";

const DEFAULT_SIZE = 10;
const MAX_SIZE = 100;

/** One line on how the batch was picked: the strategy, and whether near-duplicates were left out. */
function howPicked(batch: ReviewBatch): string {
  const method =
    batch.method === "diverse" ? "best score first, near-duplicates left out" : "best score first";
  const reason = batch.reason ? ` (${batch.reason})` : "";
  return `Strategy ${batch.strategy}: ${method}${reason}.`;
}

/**
 * "Next batch": the clips that teach the model most, picked by the project's acquisition strategy with
 * near-duplicates left out (so a batch is not ten seconds of the same video). Each picked clip links to the
 * annotator; the clips left out say which picked clip they repeat. Nothing is assigned or stored.
 */
export function NextBatchPanel({ projectId }: { projectId: number }) {
  const [size, setSize] = useState(DEFAULT_SIZE);
  const [batch, setBatch] = useState<ReviewBatch | null>(null);
  const pick = useAction(() => selectReviewBatch(projectId, size));

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const picked = await pick.run();
    if (picked) setBatch(picked);
  };

  return (
    <div className="next-batch" data-testid="next-batch">
      <form className="inline-form" onSubmit={onSubmit} aria-label="Pick the next batch">
        <label className="checkbox-field">
          Clips
          <input
            type="number"
            name="size"
            min={1}
            max={MAX_SIZE}
            value={size}
            data-testid="next-batch-size"
            onChange={(e) => setSize(Math.max(1, Math.min(MAX_SIZE, Number(e.target.value) || 1)))}
          />
        </label>
        <button type="submit" className="btn btn-primary btn-small" data-testid="next-batch-pick" disabled={pick.busy}>
          {pick.busy ? "Picking…" : "Pick the next batch"}
        </button>
        <div className="field-wide">
          <ErrorBanner error={pick.error} onDismiss={pick.clearError} context="Could not pick a batch" />
        </div>
      </form>
      {batch ? (
        <div data-testid="next-batch-result">
          {batch.clips.length === 0 ? (
            <p className="muted">
              No scored clip is waiting.{" "}
              {batch.unscored > 0 ? `${batch.unscored} clip(s) have no score yet: pre-annotate them first.` : ""}
            </p>
          ) : (
            <>
              <p className="muted small">
                {howPicked(batch)}{" "}
                <Link to={`/clips/${batch.clips[0].id}`} className="btn btn-small" data-testid="next-batch-start">
                  Start with {batch.clips[0].name}
                </Link>
              </p>
              <ol className="next-batch-list">
                {batch.clips.map((clip) => (
                  <li key={clip.id} data-testid={`next-batch-clip-${clip.id}`}>
                    <Link to={`/clips/${clip.id}`}>{clip.name}</Link>{" "}
                    <span className="muted small">
                      score {formatMetric(clip.score)}
                      {clip.reason ? ` · ${clip.reason}` : ""}
                    </span>
                  </li>
                ))}
              </ol>
            </>
          )}
          {batch.near_duplicates.length > 0 ? (
            <details data-testid="next-batch-duplicates">
              <summary className="small">
                {batch.near_duplicates.length} near-duplicate clip(s) left out
              </summary>
              <ul>
                {batch.near_duplicates.map((dup) => (
                  <li key={dup.id} className="small">
                    {dup.name} repeats {dup.duplicate_of_name}
                  </li>
                ))}
              </ul>
            </details>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
