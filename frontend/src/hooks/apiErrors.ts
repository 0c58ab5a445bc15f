/**
 * One error type for every failed API call, shaped from the server's single error vocabulary:
 * every error body is `{"message": str, "extra": {...}}` (server/core/exceptions.py). Views show
 * `message` as is; a failed fetch (offline, server down) becomes a `network` error with its own text.
 */

export type ApiErrorKind =
  | "network" // no response at all: offline, DNS, server down
  | "unauthenticated" // 401: not signed in, or the session expired
  | "forbidden" // 403: signed in, but the role does not allow it
  | "not_found" // 404 (also what outsiders of a project get)
  | "conflict" // 409
  | "invalid" // 400, 413, 422: the input was refused
  | "server"; // 5xx and anything else

export const NETWORK_MESSAGE = "Cannot reach the server. Check your connection, then retry.";

export class ApiError extends Error {
  readonly status: number;
  readonly kind: ApiErrorKind;
  readonly extra: Record<string, unknown>;

  constructor(message: string, status: number, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.kind = kindOf(status);
    this.extra = extra;
  }

  /** Field errors of a 400 (`extra.fields`), as `{field: "first message"}`. */
  get fieldErrors(): Record<string, string> {
    const fields = this.extra.fields;
    if (!fields || typeof fields !== "object") return {};
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (typeof first === "string") out[name] = first;
    }
    return out;
  }
}

function kindOf(status: number): ApiErrorKind {
  if (status === 0) return "network";
  if (status === 401) return "unauthenticated";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 400 || status === 413 || status === 422) return "invalid";
  return "server";
}

const FALLBACK: Record<number, string> = {
  401: "Please sign in.",
  403: "You do not have permission to do this.",
  404: "Not found.",
  413: "The file is too large for the server.",
  502: "The server is not responding (bad gateway). Retry in a moment.",
  503: "The server is unavailable. Retry in a moment.",
  504: "The server took too long to answer. Retry in a moment.",
};

/** An `ApiError` from a response status and its (parsed) body, whatever the body looks like. */
export function apiErrorFromBody(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && typeof (body as { message?: unknown }).message === "string") {
    const { message, extra } = body as { message: string; extra?: unknown };
    const extraObj = extra && typeof extra === "object" ? (extra as Record<string, unknown>) : {};
    return new ApiError(message || FALLBACK[status] || `Request failed (${status}).`, status, extraObj);
  }
  return new ApiError(FALLBACK[status] ?? `The server answered with an error (${status}).`, status);
}

/** Any thrown value as an `ApiError` (a rejected fetch becomes a network error). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DOMException && error.name === "AbortError") {
    return new ApiError("The request was cancelled.", 0);
  }
  return new ApiError(NETWORK_MESSAGE, 0, { cause: String(error) });
}

type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/** Await an openapi-fetch call: its data, or throw an `ApiError` (network, status, message). */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (error) {
    throw toApiError(error);
  }
  const { data, error, response } = result;
  if (!response.ok) {
    const failure = apiErrorFromBody(response.status, error);
    notifyFailure(failure);
    throw failure;
  }
  return data as T;
}

// --- session expiry --------------------------------------------------------------------------

type Listener = (error: ApiError) => void;
const listeners = new Set<Listener>();

/** Be told of every failed call (the auth provider signs out on a 401). Returns an unsubscribe. */
export function onApiFailure(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function notifyFailure(error: ApiError): void {
  for (const listener of listeners) listener(error);
}
