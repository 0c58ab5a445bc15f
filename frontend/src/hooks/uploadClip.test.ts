import { describe, expect, it, vi } from "vitest";
import type * as tus from "tus-js-client";
import { makeClip } from "./testing/fixtures";
import { sha256OfBlob } from "./sha256File";
import type { ResumableUpload } from "./studioApi";
import { type UploadDeps, type UploadPhase, uploadClip, uploadFingerprint } from "./uploadClip";

const ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

describe("sha256OfBlob", () => {
  it("hashes a blob slice by slice to its SHA-256, reporting the bytes hashed", async () => {
    const progress: number[] = [];
    const hex = await sha256OfBlob(new Blob(["abc"]), (n) => progress.push(n), undefined, 1);
    expect(hex).toBe(ABC_SHA256);
    expect(progress).toEqual([1, 2, 3]);
  });

  it("stops when cancelled", async () => {
    await expect(sha256OfBlob(new Blob(["abc"]), undefined, () => true, 1)).rejects.toThrow("cancelled");
  });
});

/** A stand-in for tus-js-client's Upload: records what it was given; `finish` plays the outcome. */
class FakeUpload {
  static last: FakeUpload;
  static previous: tus.PreviousUpload[] = [];
  url: string | null = null;
  started = false;
  resumedFrom: tus.PreviousUpload | null = null;
  aborted: boolean | undefined;

  constructor(
    readonly file: File,
    public options: tus.UploadOptions,
  ) {
    FakeUpload.last = this;
  }

  async findPreviousUploads() {
    return FakeUpload.previous;
  }

  resumeFromPreviousUpload(previous: tus.PreviousUpload) {
    this.resumedFrom = previous;
  }

  start() {
    this.started = true;
  }

  async abort(shouldTerminate?: boolean) {
    this.aborted = shouldTerminate;
  }

  succeed(url: string) {
    this.url = url;
    this.options.onProgress?.(this.file.size, this.file.size);
    this.options.onSuccess?.({ lastResponse: {} as tus.HttpResponse });
  }

  failWith(status: number, body: unknown) {
    const response = { getStatus: () => status, getBody: () => JSON.stringify(body), getHeader: () => undefined };
    this.options.onError?.(Object.assign(new Error("tus: failed"), { originalResponse: response }) as Error);
  }
}

const UPLOAD_ID = "0b8a4c3e-1111-4222-8333-444455556666";
const UPLOAD_URL = `http://testserver/api/uploads/${UPLOAD_ID}/`;

function doneUpload(overrides: Partial<ResumableUpload> = {}): ResumableUpload {
  return {
    id: UPLOAD_ID,
    url: UPLOAD_URL,
    project_id: 7,
    filename: "street.mp4",
    length: 3,
    offset: 3,
    sha256: ABC_SHA256,
    status: "done",
    error: "",
    expires_at: "2025-01-02T10:00:00Z",
    duplicate: false,
    clip: makeClip({ id: 42, name: "street.mp4" }),
    job_id: 9,
    created_at: "2025-01-01T10:00:00Z",
    ...overrides,
  };
}

function setup(options: { maxBytes?: number | null; previous?: tus.PreviousUpload[] } = {}) {
  FakeUpload.previous = options.previous ?? [];
  const removed: string[] = [];
  const deps: UploadDeps = {
    Upload: FakeUpload as unknown as UploadDeps["Upload"],
    limits: async () => ({ maxBytes: options.maxBytes ?? 1000, chunkBytes: 256 * 1024 }),
    getUpload: vi.fn(async () => doneUpload()),
    hash: sha256OfBlob,
    urlStorage: {
      findUploadsByFingerprint: async () => FakeUpload.previous,
      removeUpload: async (key: string) => {
        removed.push(key);
      },
    },
  };
  const phases: UploadPhase[] = [];
  const file = new File(["abc"], "street.mp4", { type: "video/mp4", lastModified: 1700000000000 });
  const handle = uploadClip(7, file, (_sent, _total, phase) => phases.push(phase), deps);
  return { deps, file, handle, phases, removed };
}

async function started(): Promise<FakeUpload> {
  await vi.waitFor(() => expect(FakeUpload.last?.started).toBe(true));
  return FakeUpload.last;
}

describe("uploadClip", () => {
  it("declares the file's SHA-256 and project, sends chunks of the server's size, then reads the clip", async () => {
    FakeUpload.last = undefined as unknown as FakeUpload;
    const { deps, handle, phases } = setup();
    const upload = await started();
    expect(upload.options.metadata).toEqual({
      filename: "street.mp4",
      filetype: "video/mp4",
      project: "7",
      sha256: ABC_SHA256,
    });
    expect(upload.options.endpoint).toBe("/api/uploads/");
    expect(upload.options.chunkSize).toBe(256 * 1024);
    expect(upload.options.removeFingerprintOnSuccess).toBe(true);
    expect(await upload.options.fingerprint!(upload.file, upload.options)).toBe(
      uploadFingerprint(7, upload.file),
    );
    upload.succeed(UPLOAD_URL);
    const result = await handle.done;
    expect(deps.getUpload).toHaveBeenCalledWith(UPLOAD_ID);
    expect(result).toEqual({ duplicate: false, clip: expect.objectContaining({ id: 42 }), job_id: 9 });
    expect(phases).toEqual(["preparing", "hashing", "uploading"]);
  });

  it("resumes an upload of the same file from its stored URL without hashing it again", async () => {
    FakeUpload.last = undefined as unknown as FakeUpload;
    const previous: tus.PreviousUpload = {
      size: 3,
      metadata: { filename: "street.mp4", project: "7", sha256: ABC_SHA256 },
      creationTime: "2025-01-01T10:00:00Z",
      urlStorageKey: "tus::avs-upload/7/street.mp4::1",
      uploadUrl: UPLOAD_URL,
      parallelUploadUrls: null,
    };
    const { handle, phases } = setup({ previous: [previous] });
    const upload = await started();
    expect(upload.resumedFrom).toBe(previous);
    expect(upload.options.metadata?.sha256).toBe(ABC_SHA256);
    expect(phases).not.toContain("hashing");
    upload.succeed(UPLOAD_URL);
    await expect(handle.done).resolves.toMatchObject({ job_id: 9 });
  });

  it("refuses a file above the server's limit before hashing or sending anything", async () => {
    FakeUpload.last = undefined as unknown as FakeUpload;
    const { handle, phases } = setup({ maxBytes: 2 });
    await expect(handle.done).rejects.toMatchObject({
      status: 413,
      message: "The file is too large: uploads are limited to 2 B (AVS_UPLOAD_MAX_BYTES).",
    });
    expect(FakeUpload.last).toBeUndefined();
    expect(phases).toEqual(["preparing"]);
  });

  it("shows the server's message when the file is refused, and forgets the upload", async () => {
    const previous: tus.PreviousUpload = {
      size: 3,
      metadata: { sha256: ABC_SHA256 },
      creationTime: "",
      urlStorageKey: "key-1",
      uploadUrl: UPLOAD_URL,
      parallelUploadUrls: null,
    };
    const { handle, removed } = setup({ previous: [previous] });
    const upload = await started();
    const message = "The file received has SHA-256 …, not the … declared when the upload started.";
    upload.failWith(460, { message, extra: {} });
    await expect(handle.done).rejects.toMatchObject({ status: 460, message });
    expect(removed).toEqual(["key-1"]);
  });

  it("cancelling stops the upload and deletes what the server received", async () => {
    const { handle } = setup();
    const upload = await started();
    handle.abort();
    await expect(handle.done).rejects.toMatchObject({ message: "Upload cancelled.", extra: { aborted: true } });
    expect(upload.aborted).toBe(true);
  });
});
