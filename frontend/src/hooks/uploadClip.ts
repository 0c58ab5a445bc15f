/**
 * Upload a video with the resumable upload protocol tus (tus-js-client against POST /api/uploads/):
 * the file goes in chunks (the server's AVS-Upload-Chunk-Size), a dropped connection is retried from
 * the offset the server stored, and a page closed mid-upload resumes when the same file is chosen
 * again (the upload's URL is kept in localStorage under the file's fingerprint). The whole file's
 * SHA-256 is computed first and declared at creation; the server checks it once the last byte is in,
 * then makes the clip and its ingest job exactly as for any upload. Resolves with the schema's
 * `ClipUpload` (or throws an `ApiError` with the server's message).
 */
import * as tus from "tus-js-client";
import { csrfToken } from "../api/client";
import { formatBytes } from "../components/format";
import { ApiError, apiErrorFromBody, NETWORK_MESSAGE, notifyFailure } from "./apiErrors";
import { HashCancelled, sha256OfBlob } from "./sha256File";
import { type ClipUpload, getUpload, type ResumableUpload } from "./studioApi";

export const UPLOADS_ENDPOINT = "/api/uploads/";
/** Waits (ms) before each retry of a failed request: network errors, 5xx, 409 (offset moved) and 423 (locked). */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
/** Statuses after which the kept upload URL is dropped: the file is refused, or the upload failed or expired. */
const FORGET_ON = new Set([400, 410, 413, 460]);

/** "hashing": computing the SHA-256 (`sent` = bytes hashed); "uploading": bytes the server acknowledged or in flight. */
export type UploadPhase = "preparing" | "hashing" | "uploading";

export interface UploadHandle {
  /** Resolves with the stored clip and its ingest job (or `duplicate: true`). */
  done: Promise<ClipUpload>;
  /** Stop, and delete what the server received so far. */
  abort: () => void;
}

export interface ServerLimits {
  maxBytes: number | null;
  chunkBytes: number;
}

/** What `uploadClip` uses from the outside world; tests swap them. */
export interface UploadDeps {
  Upload: new (file: File, options: tus.UploadOptions) => TusUpload;
  limits: () => Promise<ServerLimits>;
  getUpload: (uploadId: string) => Promise<ResumableUpload>;
  hash: typeof sha256OfBlob;
  urlStorage: Pick<tus.UrlStorage, "findUploadsByFingerprint" | "removeUpload">;
}

type TusUpload = Pick<tus.Upload, "start" | "abort" | "findPreviousUploads" | "resumeFromPreviousUpload" | "url"> & {
  options: tus.UploadOptions;
};

/** The server's tus limits (OPTIONS /api/uploads/): Tus-Max-Size and the chunk size it asks for. */
export async function serverLimits(): Promise<ServerLimits> {
  let response: Response;
  try {
    response = await fetch(UPLOADS_ENDPOINT, { method: "OPTIONS", credentials: "same-origin" });
  } catch {
    throw new ApiError(NETWORK_MESSAGE, 0);
  }
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw apiErrorFromBody(response.status, body);
  }
  const max = Number(response.headers.get("Tus-Max-Size"));
  const chunk = Number(response.headers.get("AVS-Upload-Chunk-Size"));
  return { maxBytes: max > 0 ? max : null, chunkBytes: chunk > 0 ? chunk : DEFAULT_CHUNK_BYTES };
}

/** The key a file's upload URL is kept under: the same file into the same project resumes. */
export function uploadFingerprint(projectId: number, file: File): string {
  return ["avs-upload", projectId, file.name, file.type, file.size, file.lastModified].join("/");
}

const defaultDeps: UploadDeps = {
  Upload: tus.Upload,
  limits: serverLimits,
  getUpload,
  hash: sha256OfBlob,
  urlStorage: tus.defaultOptions.urlStorage,
};

function cancelledError(): ApiError {
  return new ApiError("Upload cancelled.", 0, { aborted: true });
}

/** A tus failure as an `ApiError` carrying the server's message (or the network error). */
export function tusError(error: unknown): ApiError {
  const response = (error as tus.DetailedError | undefined)?.originalResponse;
  if (!response) return new ApiError(NETWORK_MESSAGE, 0, { cause: String(error) });
  let body: unknown = null;
  try {
    body = JSON.parse(response.getBody());
  } catch {
    body = null;
  }
  return apiErrorFromBody(response.getStatus(), body);
}

/** Whether tus-js-client should try a failed request again: the network, 5xx but 507, 409 and 423. */
function shouldRetry(error: tus.DetailedError): boolean {
  const status = error.originalResponse?.getStatus() ?? 0;
  if (status === 507) return false; // no room on the server: retrying soon will not help
  return status === 0 || status >= 500 || status === 409 || status === 423;
}

/** `onProgress(sent, total, phase)` in bytes: hashing first (new uploads only), then sending. */
export function uploadClip(
  projectId: number,
  file: File,
  onProgress: (sent: number, total: number, phase: UploadPhase) => void,
  deps: UploadDeps = defaultDeps,
): UploadHandle {
  let cancelled = false;
  let upload: TusUpload | null = null;
  let rejectDone: (error: ApiError) => void = () => {};
  const fingerprint = uploadFingerprint(projectId, file);

  const forget = async () => {
    for (const previous of await deps.urlStorage.findUploadsByFingerprint(fingerprint)) {
      await deps.urlStorage.removeUpload(previous.urlStorageKey);
    }
  };

  const run = async (): Promise<ClipUpload> => {
    onProgress(0, file.size, "preparing");
    const limits = await deps.limits();
    if (file.size === 0) throw new ApiError("The file is empty.", 400);
    if (limits.maxBytes !== null && file.size > limits.maxBytes) {
      throw new ApiError(
        `The file is too large: uploads are limited to ${formatBytes(limits.maxBytes)} (AVS_UPLOAD_MAX_BYTES).`,
        413,
        { max_bytes: limits.maxBytes },
      );
    }
    const metadata: Record<string, string> = {
      filename: file.name,
      filetype: file.type,
      project: String(projectId),
    };
    const sent = new Promise<string>((resolve, reject) => {
      upload = new deps.Upload(file, {
        endpoint: UPLOADS_ENDPOINT,
        chunkSize: limits.chunkBytes,
        retryDelays: RETRY_DELAYS,
        headers: { "X-CSRFToken": csrfToken() },
        metadata,
        fingerprint: async () => fingerprint,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onShouldRetry: (error) => shouldRetry(error),
        onProgress: (bytes, total) => onProgress(bytes, total, "uploading"),
        onSuccess: () => resolve(upload?.url ?? ""),
        onError: (error) => reject(error),
      });
    });
    const current = upload as unknown as TusUpload;
    // The same file into the same project, started earlier (maybe before a reload): go on from the server's offset.
    const previous = (await current.findPreviousUploads()).find((p) => p.uploadUrl && p.metadata?.sha256);
    if (previous) {
      current.options.metadata = { ...metadata, ...previous.metadata };
      current.resumeFromPreviousUpload(previous);
    } else {
      metadata.sha256 = await deps.hash(file, (hashed) => onProgress(hashed, file.size, "hashing"), () => cancelled);
    }
    if (cancelled) throw cancelledError();
    current.start();
    let url: string;
    try {
      url = await sent;
    } catch (error) {
      const failure = tusError(error);
      if (FORGET_ON.has(failure.status)) await forget(); // this upload is refused for good: start afresh next time
      throw failure;
    }
    const uploadId = /\/uploads\/([0-9a-f-]{36})\/?$/.exec(url)?.[1];
    if (!uploadId) throw new ApiError(`The server answered an unexpected upload URL (${url}).`, 0);
    const state = await deps.getUpload(uploadId);
    if (state.status !== "done" || state.clip === null) {
      throw new ApiError(state.error || `The upload is ${state.status}.`, 400, { upload: state.id });
    }
    return { duplicate: state.duplicate, clip: state.clip, job_id: state.job_id };
  };

  const done = new Promise<ClipUpload>((resolve, reject) => {
    rejectDone = reject;
    run().then(resolve, (error: unknown) => {
      if (cancelled || error instanceof HashCancelled) {
        reject(cancelledError());
        return;
      }
      const failure = error instanceof ApiError ? error : tusError(error);
      if (failure.status !== 0) notifyFailure(failure);
      reject(failure);
    });
  });

  const abort = () => {
    if (cancelled) return;
    cancelled = true;
    const current = upload as TusUpload | null;
    if (current) void current.abort(true).catch(() => undefined); // deletes the server's bytes (tus termination)
    rejectDone(cancelledError());
  };
  return { done, abort };
}
