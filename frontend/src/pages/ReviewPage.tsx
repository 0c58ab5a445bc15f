import { Link, useParams, useSearchParams } from "react-router-dom";
import { ErrorBanner } from "../components/ErrorBanner";
import { formatAgo, formatDateTime, formatWorkTime } from "../components/format";
import { EmptyState, Loading } from "../components/Loading";
import { Pagination } from "../components/Pagination";
import { StatusBadge } from "../components/StatusBadge";
import { getProject, listProjectAnnotations } from "../hooks/studioApi";
import { useAsync } from "../hooks/useAsync";
import { frameLabel, frameWindowText } from "../model/frameTime";

const PAGE_SIZE = 50;

/** The annotator in review mode on a frame; `frameIndex` is 0-based, as in the API ("Frame 1" is `frame=0`). */
export function reviewHref(clipId: number, frameIndex: number): string {
  return `/clips/${clipId}?frame=${frameIndex}&review=1`;
}

/** Submitted annotations waiting for a verdict; each opens the annotator in review mode. */
export function ReviewPage() {
  const projectId = Number(useParams().projectId);
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get("page")) || 1);
  const project = useAsync(() => getProject(projectId), [projectId]);
  const annotations = useAsync(
    () => listProjectAnnotations(projectId, { status: "submitted", page, page_size: PAGE_SIZE }),
    [projectId, page],
  );
  const rows = annotations.data?.results ?? [];

  return (
    <div className="page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/">Projects</Link>
        <span aria-hidden="true">/</span>
        <Link to={`/projects/${projectId}`}>{project.data?.name ?? `Project ${projectId}`}</Link>
        <span aria-hidden="true">/</span>
        <span>Review</span>
      </nav>
      <div className="page-header">
        <div>
          <h1>Submitted for review</h1>
          <p className="muted">Oldest first. Open one to accept it or send it back with a comment.</p>
        </div>
        <div className="page-actions">
          <button type="button" className="btn" onClick={annotations.reload}>
            Refresh
          </button>
        </div>
      </div>
      <ErrorBanner error={project.error} onRetry={project.reload} context="Could not load the project" />
      <ErrorBanner error={annotations.error} onRetry={annotations.reload} context="Could not load submissions" />
      {annotations.loading && !annotations.data ? (
        <Loading />
      ) : annotations.data && rows.length === 0 ? (
        <EmptyState title="Nothing to review.">Submitted annotations appear here.</EmptyState>
      ) : annotations.data ? (
        <div className="table-wrap">
          <table className="table table-hover" aria-label="Submitted annotations">
            <thead>
              <tr>
                <th>Clip</th>
                <th>Frame</th>
                <th>Author</th>
                <th className="num">Instances</th>
                <th className="num">Work</th>
                <th>Submitted</th>
                <th>Status</th>
                <th aria-label="Open" />
              </tr>
            </thead>
            <tbody>
              {rows.map((annotation) => (
                <tr key={annotation.id} data-testid={`annotation-row-${annotation.id}`}>
                  <td>
                    <Link to={reviewHref(annotation.clip, annotation.frame_index)} className="row-title">
                      {annotation.clip_name || `Clip #${annotation.clip}`}
                    </Link>
                  </td>
                  <td className="nowrap" data-testid={`annotation-frame-${annotation.id}`}>
                    {frameLabel(annotation.frame_index, annotation.clip_num_frames)}
                    {annotation.clip_fps ? (
                      <span className="muted"> · {frameWindowText(annotation.frame_index, annotation.clip_fps)}</span>
                    ) : null}
                  </td>
                  <td>{annotation.author?.username ?? "—"}</td>
                  <td className="num">{annotation.instances.length}</td>
                  <td className="num">{formatWorkTime(annotation.time_spent)}</td>
                  <td className="nowrap" title={formatDateTime(annotation.updated_at)}>
                    {formatAgo(annotation.updated_at)}
                  </td>
                  <td>
                    <StatusBadge status={annotation.status ?? "submitted"} />
                  </td>
                  <td className="actions">
                    <Link
                      to={reviewHref(annotation.clip, annotation.frame_index)}
                      className="btn btn-small btn-primary"
                      data-testid={`review-open-${annotation.id}`}
                    >
                      Review
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination
            page={page}
            pageSize={PAGE_SIZE}
            count={annotations.data.count}
            onPage={(p) => setParams({ page: String(p) })}
          />
        </div>
      ) : null}
    </div>
  );
}
