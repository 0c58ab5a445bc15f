import { useEffect, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatBytes } from "../../components/format";
import { StatusBadge } from "../../components/StatusBadge";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import { type BucketObject, importFromBucket, type Job, listBucketObjects } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { isJobActive } from "../../hooks/useJobs";
import { JobProgress } from "./JobsTable";

interface Props {
  projectId: number;
  /** The project's jobs (polled by the page): the import job's progress is read from them. */
  jobs: Job[];
  /** An import job was queued (the page then polls jobs and reloads clips). */
  onImported: () => void;
}

const STATUS_LABEL: Record<BucketObject["status"], string> = {
  new: "new",
  in_project: "in project",
  failed: "failed",
};

/**
 * "Add videos from storage" (managers): list a bucket location the server allows (AVS_IMPORT_BUCKETS), new videos
 * marked, and import the new ones as one job; listing again afterwards shows them in the project.
 */
export function StorageImportPanel({ projectId, jobs, onImported }: Props) {
  const [url, setUrl] = useState<string | undefined>(undefined);
  const [draft, setDraft] = useState("");
  const [jobId, setJobId] = useState<number | null>(null);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<ApiError | null>(null);
  const listing = useAsync(() => listBucketObjects(projectId, url), [projectId, url]);
  const data = listing.data;
  const job = jobId !== null ? jobs.find((j) => j.id === jobId) : undefined;
  const running = job !== undefined && isJobActive(job);

  useEffect(() => {
    if (data?.url && url === undefined) setDraft(data.url);
  }, [data?.url, url]);

  // The import finished: list again, so that its videos show as in the project.
  const settled = job !== undefined && !isJobActive(job);
  const reload = listing.reload;
  useEffect(() => {
    if (settled) reload();
  }, [settled, reload]);

  const onImport = async () => {
    if (!data?.url) return;
    setStarting(true);
    setStartError(null);
    try {
      const started = await importFromBucket(projectId, data.url);
      setJobId(started.id);
      onImported();
    } catch (failure) {
      setStartError(toApiError(failure));
    } finally {
      setStarting(false);
    }
  };

  if (data && data.sources.length === 0) {
    return (
      <section className="panel" aria-label="Add videos from storage" data-testid="storage-panel">
        <p className="muted" data-testid="storage-off">
          Import from storage is off: an administrator lists the buckets it may read in AVS_IMPORT_BUCKETS.
        </p>
      </section>
    );
  }

  return (
    <section className="panel" aria-label="Add videos from storage" data-testid="storage-panel">
      <form
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          setUrl(draft.trim() || undefined);
          if (draft.trim() === url) listing.reload();
        }}
      >
        <input
          className="input"
          aria-label="Bucket location"
          list="storage-sources"
          placeholder="s3://bucket/prefix/"
          value={draft}
          data-testid="storage-url"
          onChange={(event) => setDraft(event.target.value)}
        />
        <datalist id="storage-sources">
          {(data?.sources ?? []).map((source) => (
            <option key={source} value={source} />
          ))}
        </datalist>
        <button type="submit" className="btn" data-testid="storage-list">
          List
        </button>
        <button
          type="button"
          className="btn btn-primary"
          data-testid="storage-import"
          disabled={!data || data.new_count === 0 || starting || running || listing.loading}
          onClick={onImport}
        >
          {starting || running
            ? "Importing…"
            : `Import ${data?.new_count ?? 0} new video${data?.new_count === 1 ? "" : "s"}`}
        </button>
      </form>
      <ErrorBanner error={listing.error} onRetry={listing.reload} context="Could not list the bucket" />
      <ErrorBanner error={startError} context="Could not start the import" />
      {job ? (
        <div data-testid="storage-job">
          <JobProgress job={job} />
          {job.status === "succeeded" ? <p className="muted">{job.message}</p> : null}
        </div>
      ) : null}
      {data?.url ? (
        data.objects.length === 0 ? (
          <p className="muted" data-testid="storage-empty">
            No videos under {data.url}.
          </p>
        ) : (
          <table className="table" data-testid="storage-objects">
            <thead>
              <tr>
                <th>Video</th>
                <th>Size</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {data.objects.map((obj) => (
                <tr key={obj.key} data-testid="storage-object">
                  <td title={obj.key}>{obj.key}</td>
                  <td>{formatBytes(obj.size_bytes)}</td>
                  <td>
                    <StatusBadge
                      status={obj.status === "in_project" ? "ready" : obj.status === "failed" ? "failed" : "uploaded"}
                      label={STATUS_LABEL[obj.status]}
                    />
                    {obj.status === "failed" && obj.error ? <span className="muted"> {obj.error}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {data?.truncated ? <p className="muted">More videos than one listing shows: list a narrower prefix.</p> : null}
    </section>
  );
}
