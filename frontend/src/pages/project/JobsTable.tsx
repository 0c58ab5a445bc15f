import { Link } from "react-router-dom";
import { formatAgo } from "../../components/format";
import { EmptyState } from "../../components/Loading";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/StatusBadge";
import { exportDownloadUrl, type Job } from "../../hooks/studioApi";
import { isJobActive } from "../../hooks/useJobs";

const KIND_LABEL: Record<string, string> = {
  ingest: "Ingest",
  preannotate: "Pre-annotate",
  export: "Export",
  import: "Import",
  evaluate: "Evaluate",
  train: "Train",
  labelstudio: "Label Studio sync",
};

function JobTarget({ target }: { target: Job["target"] }) {
  if (!target) return <span className="muted">project</span>;
  if (target.type === "media.clip") return <Link to={`/clips/${target.id}`}>clip #{target.id}</Link>;
  if (target.type === "learning.modelversion") return <span>model version #{target.id}</span>;
  return (
    <span>
      {target.type.split(".").pop()} #{target.id}
    </span>
  );
}

/** A job's bar: striped while running, green when done, red with the readable error when failed. */
export function JobProgress({ job }: { job: Job }) {
  const progress = (job.progress ?? 0) / 100;
  if (job.status === "failed") {
    return (
      <div>
        <ProgressBar value={progress} tone="danger" label="failed" />
        <div className="job-error" role="alert">
          {job.error || job.message || "The job failed."}
        </div>
      </div>
    );
  }
  return (
    <div>
      <ProgressBar
        value={job.status === "succeeded" ? 1 : progress}
        tone={job.status === "succeeded" ? "success" : job.status === "queued" ? "muted" : "default"}
        active={isJobActive(job)}
        label={job.status === "queued" ? "queued" : undefined}
      />
      {job.message ? <div className="job-message muted">{job.message}</div> : null}
      {job.status === "queued" && job.waiting_reason ? (
        <div className="job-waiting" role="status" data-testid={`job-waiting-${job.id}`}>
          ⚠ {job.waiting_reason}
        </div>
      ) : null}
    </div>
  );
}

/** The archive of a succeeded export job, as a plain link (the server answers with the zip as an attachment). */
export function ExportDownloadLink({ job }: { job: Job }) {
  if (job.kind !== "export" || job.status !== "succeeded") return null;
  return (
    <a className="btn btn-small job-download" href={exportDownloadUrl(job.id)} download data-testid={`export-download-${job.id}`}>
      ⇩ Download
    </a>
  );
}

/** A project's jobs, newest first, with live progress (and the download of finished exports). */
export function JobsTable({ jobs, compact = false }: { jobs: Job[]; compact?: boolean }) {
  if (jobs.length === 0) return <EmptyState title="No jobs yet." />;
  return (
    <div className="table-wrap">
      <table className="table" aria-label="Jobs">
        <thead>
          <tr>
            <th>Job</th>
            <th>Target</th>
            <th>Status</th>
            <th className="col-job-progress">Progress</th>
            {compact ? null : <th>By</th>}
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-testid={`job-row-${job.id}`}>
              <td className="nowrap">
                {KIND_LABEL[job.kind] ?? job.kind} <span className="muted">#{job.id}</span>
              </td>
              <td>
                <JobTarget target={job.target} />
              </td>
              <td>
                <StatusBadge status={job.status ?? "queued"} />
              </td>
              <td className="col-job-progress">
                <JobProgress job={job} />
                <ExportDownloadLink job={job} />
              </td>
              {compact ? null : <td>{job.created_by?.username ?? "—"}</td>}
              <td className="nowrap" title={job.updated_at}>
                {formatAgo(job.finished_at ?? job.updated_at)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
