import { type DragEvent, useRef, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatBytes } from "../../components/format";
import { ProgressBar } from "../../components/ProgressBar";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import type { ClipUpload, Job } from "../../hooks/studioApi";
import { type UploadPhase, uploadClip } from "../../hooks/uploadClip";
import { JobProgress } from "./JobsTable";

interface UploadItem {
  key: number;
  file: File;
  sent: number;
  total: number;
  state: "waiting" | "uploading" | "stored" | "duplicate" | "failed";
  phase: UploadPhase;
  result?: ClipUpload;
  error?: ApiError;
}

interface Props {
  projectId: number;
  /** The project's jobs (polled by the page): an upload's ingest progress is read from them. */
  jobs: Job[];
  /** A file was stored and its ingest job queued. */
  onUploaded: () => void;
}

/**
 * Upload videos one after another, resumably (tus: a dropped connection or a reload continues where the
 * server stopped): the checksum, bytes sent, then the ingest job's progress.
 */
export function UploadPanel({ projectId, jobs, onUploaded }: Props) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const nextKey = useRef(1);
  const queue = useRef<Promise<void>>(Promise.resolve());
  const abortCurrent = useRef<(() => void) | null>(null);

  const patch = (key: number, change: Partial<UploadItem>) =>
    setItems((list) => list.map((item) => (item.key === key ? { ...item, ...change } : item)));

  const uploadOne = async (item: UploadItem) => {
    patch(item.key, { state: "uploading" });
    const handle = uploadClip(projectId, item.file, (sent, total, phase) => patch(item.key, { sent, total, phase }));
    abortCurrent.current = handle.abort;
    try {
      const result = await handle.done;
      patch(item.key, { state: result.duplicate ? "duplicate" : "stored", result, sent: item.total });
      if (!result.duplicate) onUploaded();
    } catch (failure) {
      patch(item.key, { state: "failed", error: toApiError(failure) });
    } finally {
      abortCurrent.current = null;
    }
  };

  const addFiles = (files: FileList | File[] | null) => {
    if (!files) return;
    const added = Array.from(files).map<UploadItem>((file) => ({
      key: nextKey.current++,
      file,
      sent: 0,
      total: file.size,
      state: "waiting",
      phase: "preparing",
    }));
    setItems((list) => [...added, ...list]);
    for (const item of added) queue.current = queue.current.then(() => uploadOne(item));
    if (input.current) input.current.value = "";
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer.files);
  };

  const finished = items.filter((i) => i.state !== "waiting" && i.state !== "uploading");
  return (
    <section className="panel upload-panel" aria-label="Upload videos">
      <div
        className={`dropzone${dragging ? " dropzone-active" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <span>Drop video files here, or</span>
        <label className="btn btn-small btn-primary">
          Choose files…
          <input
            ref={input}
            type="file"
            accept="video/*,.mkv,.webm,.mov,.mp4,.avi"
            multiple
            hidden
            data-testid="upload-input"
            onChange={(event) => addFiles(event.target.files)}
          />
        </label>
        <span className="muted">mp4, webm, mkv, mov… with or without audio.</span>
      </div>

      {items.length > 0 ? (
        <ul className="upload-list">
          {items.map((item) => {
            const job = item.result?.job_id ? jobs.find((j) => j.id === item.result?.job_id) : undefined;
            return (
              <li key={item.key} className="upload-item" data-testid="upload-item">
                <div className="upload-name">
                  <strong>{item.file.name}</strong> <span className="muted">{formatBytes(item.file.size)}</span>
                </div>
                <div className="upload-status">
                  {item.state === "waiting" ? <span className="muted">Waiting…</span> : null}
                  {item.state === "uploading" ? (
                    <div className="upload-progress" data-phase={item.phase}>
                      <ProgressBar
                        value={item.total > 0 ? item.sent / item.total : 0}
                        active
                        label={uploadLabel(item)}
                      />
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => abortCurrent.current?.()}>
                        Cancel
                      </button>
                    </div>
                  ) : null}
                  {item.state === "stored" ? (
                    job ? (
                      <JobProgress job={job} />
                    ) : (
                      <ProgressBar value={0} tone="muted" active label="Uploaded; ingest queued…" />
                    )
                  ) : null}
                  {item.state === "duplicate" ? (
                    <span className="muted">
                      Already in this project as “{item.result?.clip.name}” — nothing was stored.
                    </span>
                  ) : null}
                  {item.state === "failed" ? <ErrorBanner error={item.error} /> : null}
                </div>
              </li>
            );
          })}
        </ul>
      ) : null}
      {finished.length > 0 ? (
        <button
          type="button"
          className="btn btn-small btn-ghost"
          onClick={() =>
            setItems((list) =>
              list.filter((i) => {
                if (i.state === "waiting" || i.state === "uploading") return true;
                const job = i.result?.job_id ? jobs.find((j) => j.id === i.result?.job_id) : undefined;
                return i.state === "stored" && job !== undefined && (job.status === "queued" || job.status === "running");
              }),
            )
          }
        >
          Clear finished
        </button>
      ) : null}
    </section>
  );
}

function uploadLabel(item: UploadItem): string {
  if (item.phase === "preparing") return "Preparing…";
  if (item.phase === "hashing") return `Computing its checksum ${formatBytes(item.sent)} / ${formatBytes(item.total)}`;
  if (item.total > 0 && item.sent >= item.total) return "Sent; the server is checking and storing it…";
  return `Uploading ${formatBytes(item.sent)} / ${formatBytes(item.total)}`;
}
