import { useState } from "react";
import { Link } from "react-router-dom";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatAgo, formatDuration, formatMetric } from "../../components/format";
import { EmptyState, Loading } from "../../components/Loading";
import { Pagination } from "../../components/Pagination";
import { ProgressBar } from "../../components/ProgressBar";
import { listReviewQueue, type ReviewQueueClip } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { NextBatchPanel } from "./NextBatchPanel";

const PAGE_SIZE = 50;

/** The tooltip of a clip's reason: which strategy scored it, its top term and the model version read. */
function scoreWhy(clip: ReviewQueueClip): string {
  const parts = [`Strategy: ${clip.acquisition_strategy ?? "unknown"}`];
  if (clip.acquisition_top_term) {
    const value = clip.acquisition_top_value === null ? "" : ` = ${formatMetric(clip.acquisition_top_value)}`;
    parts.push(`top term: ${clip.acquisition_top_term}${value}`);
  }
  if (clip.acquisition_model_version !== null) parts.push(`model version ${clip.acquisition_model_version}`);
  return parts.join("; ");
}

/**
 * Ready clips in the order to annotate them (server order): highest acquisition score first, then
 * clips with proposals and the fewest accepted frames. Each scored clip says why (its strategy's top
 * contributing term and value, e.g. "top-k pixel entropy 0.93 (combined)"). Re-read when `version` changes (a finished job,
 * e.g. a pre-annotation that added proposals).
 */
export function ReviewQueuePanel({
  projectId,
  version = 0,
  canPickBatch = false,
}: {
  projectId: number;
  version?: number;
  /** Managers pick the next batch (the server's rule). */
  canPickBatch?: boolean;
}) {
  const [page, setPage] = useState(1);
  const [includeDone, setIncludeDone] = useState(false);
  const queue = useAsync(
    () =>
      listReviewQueue(projectId, {
        page: page > 1 ? page : undefined,
        page_size: PAGE_SIZE,
        include_done: includeDone || undefined,
      }),
    [projectId, page, includeDone, version],
  );
  const rows = queue.data?.results ?? [];
  const maxScore = Math.max(0, ...rows.map((row) => row.acquisition_score ?? 0));

  return (
    <section className="panel" aria-label="Review queue">
      <div className="panel-header">
        <h2 className="panel-title">Review queue</h2>
        <span className="muted">
          Active-learning order: the clips the model is least sure about come first.
        </span>
        <div className="toolbar-spacer" />
        <label className="chip">
          <input
            type="checkbox"
            checked={includeDone}
            onChange={(event) => {
              setIncludeDone(event.target.checked);
              setPage(1);
            }}
          />
          Include finished clips
        </label>
      </div>
      {canPickBatch ? <NextBatchPanel projectId={projectId} /> : null}
      <ErrorBanner error={queue.error} onRetry={queue.reload} context="Could not load the queue" />
      {queue.loading && !queue.data ? (
        <Loading />
      ) : queue.data && rows.length === 0 ? (
        <EmptyState title="The queue is empty.">Clips appear here once they are ready.</EmptyState>
      ) : queue.data ? (
        <div className="table-wrap">
          <table className="table table-hover" aria-label="Review queue">
            <thead>
              <tr>
                <th className="num">#</th>
                <th>Clip</th>
                <th className="col-progress">Acquisition score</th>
                <th className="col-progress">Accepted frames</th>
                <th className="num">Submitted</th>
                <th className="num">Rejected</th>
                <th className="num">Proposals</th>
                <th className="num">Duration</th>
                <th>Audio</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((clip, index) => (
                <tr key={clip.id} data-testid={`queue-row-${clip.id}`}>
                  <td className="num muted">{(page - 1) * PAGE_SIZE + index + 1}</td>
                  <td>
                    <Link to={`/clips/${clip.id}`} className="row-title">
                      {clip.name}
                    </Link>
                  </td>
                  <td className="col-progress" title={clip.acquisition_scored_at ? `scored ${formatAgo(clip.acquisition_scored_at)}` : undefined}>
                    {clip.acquisition_score === null ? (
                      <span className="muted">not scored</span>
                    ) : (
                      <>
                        <ProgressBar
                          value={maxScore > 0 ? clip.acquisition_score / maxScore : 0}
                          label={formatMetric(clip.acquisition_score)}
                          title="Acquisition score (higher: more informative)"
                        />
                        {clip.acquisition_reason ? (
                          <div className="row-sub" data-testid={`queue-reason-${clip.id}`} title={scoreWhy(clip)}>
                            {clip.acquisition_reason}
                          </div>
                        ) : null}
                      </>
                    )}
                  </td>
                  <td className="col-progress">
                    <ProgressBar
                      value={clip.num_frames > 0 ? clip.accepted_count / clip.num_frames : 0}
                      tone="success"
                      label={`${clip.accepted_count} / ${clip.num_frames}`}
                      title="Accepted frames"
                    />
                  </td>
                  <td className="num">{clip.submitted_count || <span className="muted">0</span>}</td>
                  <td className="num">
                    {clip.rejected_count ? <span className="row-error">{clip.rejected_count}</span> : <span className="muted">0</span>}
                  </td>
                  <td className="num">{clip.proposal_count}</td>
                  <td className="num">{formatDuration(clip.duration)}</td>
                  <td>{clip.has_audio ? <span className="yes">♪ yes</span> : <span className="muted">no</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={PAGE_SIZE} count={queue.data.count} onPage={setPage} />
        </div>
      ) : null}
    </section>
  );
}
