/**
 * The annotator's server calls, on the typed client (`api/client.ts`; types generated from the
 * OpenAPI schema). Errors become `AnnotatorApiError` with the server's `{message, extra}`; a save is
 * classified into a `SaveOutcome` for the save state machine (`model/save.ts`).
 */
import { api, csrfToken } from "../api/client";
import type { components } from "../api/schema";
import type { SaveOutcome, SaveRequest, SaveTransport } from "../model/save";

type Schemas = components["schemas"];
export type ClipDetail = Schemas["ClipDetail"];
export type ClipFrame = Schemas["ClipFrame"];
export type ProjectDetail = Schemas["ProjectDetail"];
export type Annotation = Schemas["Annotation"];
export type Proposal = Schemas["Proposal"];
export type ProposalInstance = Schemas["ProposalInstance"];
export type Review = Schemas["Review"];
export type Verdict = Schemas["VerdictEnum"];
export type SamResult = Schemas["SamClick"];
export type SamInput = Schemas["SamClickInputRequest"];
export type ClipAcceptResult = Schemas["ClipAcceptProposals"];

// Mask propagation (POST /api/clips/{id}/propagations/, GET/accept /api/propagations/{id}/).
export type Propagation = Schemas["Propagation"];
export type PropagationDirection = Schemas["DirectionEnum"];
export type PropagationInstance = Schemas["PropagationInstance"];
export type PropagationStart = Schemas["PropagationCreateInputRequest"];
export type PropagationAcceptBody = Schemas["PropagationAcceptInputRequest"];
export type PropagationAcceptResult = Schemas["PropagationAcceptResult"];

export class AnnotatorApiError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AnnotatorApiError";
  }
}

const NETWORK = "The server could not be reached; check your connection.";

function errorOf(error: unknown, response: Response): AnnotatorApiError {
  const body = (error ?? {}) as { message?: unknown; extra?: unknown };
  const message =
    typeof body.message === "string" && body.message
      ? body.message
      : response.status >= 500
        ? `The server failed (${response.status} ${response.statusText}).`
        : `Request failed (${response.status} ${response.statusText}).`;
  const extra = body.extra && typeof body.extra === "object" ? (body.extra as Record<string, unknown>) : {};
  return new AnnotatorApiError(message, response.status, extra);
}

/** Await an openapi-fetch call: its data, or an AnnotatorApiError (status 0 when offline). */
async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (e) {
    throw new AnnotatorApiError(`${NETWORK} (${e instanceof Error ? e.message : String(e)})`, 0);
  }
  if (!result.response.ok || result.data === undefined) throw errorOf(result.error, result.response);
  return result.data;
}

/** Every page of a paginated list. */
async function all<T>(fetchPage: (page: number) => Promise<{ results: T[]; next?: string | null }>): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; ; page++) {
    const data = await fetchPage(page);
    out.push(...data.results);
    if (!data.next) return out;
  }
}

export function fetchClip(clipId: number): Promise<ClipDetail> {
  return call(api.GET("/api/clips/{clip_id}/", { params: { path: { clip_id: clipId } } }));
}

export function fetchProject(projectId: number): Promise<ProjectDetail> {
  return call(api.GET("/api/projects/{project_id}/", { params: { path: { project_id: projectId } } }));
}

export function fetchAnnotations(clipId: number): Promise<Annotation[]> {
  return all((page) =>
    call(api.GET("/api/clips/{clip_id}/annotations/", { params: { path: { clip_id: clipId }, query: { page, page_size: 500 } } })),
  );
}

export function fetchProposals(clipId: number): Promise<Proposal[]> {
  return all((page) =>
    call(api.GET("/api/clips/{clip_id}/proposals/", { params: { path: { clip_id: clipId }, query: { page, page_size: 100 } } })),
  );
}

/** The frame's annotation, or null when it has none. */
export async function fetchAnnotation(frameId: number): Promise<Annotation | null> {
  try {
    return await call(api.GET("/api/frames/{frame_id}/annotation/", { params: { path: { frame_id: frameId } } }));
  } catch (e) {
    if (e instanceof AnnotatorApiError && e.status === 404 && "current_version" in e.extra) return null;
    throw e;
  }
}

/** 409 bodies of stale writes carry `extra.current` (the stored annotation) and `extra.current_version`. */
export function isStaleConflict(e: unknown): boolean {
  return e instanceof AnnotatorApiError && e.status === 409 && "current" in e.extra;
}

function saveBody(request: SaveRequest) {
  return {
    instances: request.instances,
    version: request.version,
    time_spent_delta: request.time_spent_delta,
    ...(request.status ? { status: request.status } : {}),
    ...(request.source_proposal != null ? { source_proposal: request.source_proposal } : {}),
  };
}

/** PUT /api/frames/{id}/annotation/, classified for the save state machine. */
export const saveTransport: SaveTransport = {
  async save(request: SaveRequest): Promise<SaveOutcome> {
    try {
      const annotation = await call(
        api.PUT("/api/frames/{frame_id}/annotation/", {
          params: { path: { frame_id: request.frameId } },
          body: saveBody(request),
        }),
      );
      return { kind: "ok", annotation };
    } catch (e) {
      return outcomeOf(e);
    }
  },
};

export function outcomeOf(e: unknown): SaveOutcome {
  if (!(e instanceof AnnotatorApiError)) return { kind: "unavailable", message: NETWORK };
  if (isStaleConflict(e)) {
    const current = (e.extra.current ?? null) as Annotation | null;
    const currentVersion = typeof e.extra.current_version === "number" ? e.extra.current_version : (current?.version ?? null);
    return { kind: "conflict", message: e.message, currentVersion, current };
  }
  if (e.status === 0 || e.status >= 500 || e.status === 429 || e.status === 408) {
    return { kind: "unavailable", message: e.status === 0 ? NETWORK : e.message };
  }
  return { kind: "failed", message: e.message, httpStatus: e.status };
}

/** Best-effort saves while the page unloads (`fetch` keepalive outlives the page). */
export function saveOnUnload(requests: readonly SaveRequest[]): void {
  for (const request of requests) {
    try {
      void fetch(`/api/frames/${request.frameId}/annotation/`, {
        method: "PUT",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(saveBody(request)),
      }).catch(() => undefined);
    } catch {
      /* keepalive bodies are limited (64 kB): the beforeunload prompt has warned the user */
    }
  }
}

export function postReview(annotationId: number, body: { verdict: Verdict; comment: string; annotation_version: number }): Promise<Review> {
  return call(api.POST("/api/annotations/{annotation_id}/reviews/", { params: { path: { annotation_id: annotationId } }, body }));
}

export function samPredict(frameId: number, body: SamInput): Promise<SamResult> {
  return call(api.POST("/api/frames/{frame_id}/sam/", { params: { path: { frame_id: frameId } }, body }));
}

export function acceptProposalOnFrame(
  frameId: number,
  body: { proposal: number; version: number | null; instances?: number[] | null },
): Promise<Annotation> {
  return call(api.POST("/api/frames/{frame_id}/annotation/accept-proposal/", { params: { path: { frame_id: frameId } }, body }));
}

export function acceptProposalOnClip(clipId: number, proposal: number): Promise<ClipAcceptResult> {
  return call(api.POST("/api/clips/{clip_id}/accept-proposals/", { params: { path: { clip_id: clipId } }, body: { proposal } }));
}

/** Start propagating instances of a frame (202: the propagation, queued). 503: no tracker configured. */
export function startPropagation(clipId: number, body: PropagationStart): Promise<Propagation> {
  return call(api.POST("/api/clips/{clip_id}/propagations/", { params: { path: { clip_id: clipId } }, body }));
}

export function fetchPropagation(id: number): Promise<Propagation> {
  return call(api.GET("/api/propagations/{propagation_id}/", { params: { path: { propagation_id: id } } }));
}

/** The clip's newest propagations (each carries its masks: older ones are not loaded). */
export async function fetchPropagations(clipId: number, newest = 20): Promise<Propagation[]> {
  const page = await call(api.GET("/api/clips/{clip_id}/propagations/", { params: { path: { clip_id: clipId }, query: { page: 1, page_size: newest } } }));
  return page.results;
}

/**
 * Accept a propagation on frames, all or nothing. 409: a frame's version is not the one in
 * `base_versions` (`extra.stale_frames`), or is accepted and locked (`extra.locked_frames`).
 */
export function acceptPropagation(id: number, body: PropagationAcceptBody): Promise<PropagationAcceptResult> {
  return call(api.POST("/api/propagations/{propagation_id}/accept/", { params: { path: { propagation_id: id } }, body }));
}

/** The clip's audio (a protected URL: sent with the session cookie). */
export async function fetchAudio(url: string, signal?: AbortSignal): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: "include", signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new AnnotatorApiError(NETWORK, 0);
  }
  if (!response.ok) throw new AnnotatorApiError(`The audio could not be loaded (${response.status}).`, response.status);
  return response.blob();
}
