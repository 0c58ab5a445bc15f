/**
 * Upload a video with progress events. `fetch` cannot report upload progress, so this one call
 * uses XMLHttpRequest; it sends the same session cookie and CSRF header as the typed client and
 * returns the schema's `ClipUpload` (or throws an `ApiError` with the server's message).
 */
import { csrfToken } from "../api/client";
import type { paths } from "../api/schema";
import { ApiError, apiErrorFromBody, NETWORK_MESSAGE, notifyFailure } from "./apiErrors";
import type { ClipUpload } from "./studioApi";

type UploadPath = "/api/projects/{project_id}/clips/";
const UPLOAD_PATH: UploadPath = "/api/projects/{project_id}/clips/";
// The request body the schema documents for this path (multipart: file, optional name).
export type ClipUploadForm =
  paths[UploadPath]["post"]["requestBody"]["content"]["multipart/form-data"];

export interface UploadHandle {
  /** Resolves with the stored clip and its ingest job (or `duplicate: true`). */
  done: Promise<ClipUpload>;
  abort: () => void;
}

/** `onProgress(sent, total)` in bytes, as the browser sends the file. */
export function uploadClip(
  projectId: number,
  file: File,
  onProgress: (sent: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<ClipUpload>((resolve, reject) => {
    xhr.open("POST", UPLOAD_PATH.replace("{project_id}", String(projectId)));
    xhr.withCredentials = true;
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body as ClipUpload);
      } else {
        const error = apiErrorFromBody(xhr.status, body);
        notifyFailure(error);
        reject(error);
      }
    };
    xhr.onerror = () => reject(new ApiError(NETWORK_MESSAGE, 0));
    xhr.onabort = () => reject(new ApiError("Upload cancelled.", 0, { aborted: true }));
    const form = new FormData();
    const field: keyof ClipUploadForm = "file";
    form.append(field, file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}
