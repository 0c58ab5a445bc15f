import type { ApiError } from "../hooks/apiErrors";

interface ErrorBannerProps {
  error: ApiError | null | undefined;
  /** Shown as a Retry button (always offered for network errors when given). */
  onRetry?: () => void;
  /** Prefix, e.g. "Could not load clips". */
  context?: string;
  onDismiss?: () => void;
}

/** The server's `message` (or the offline text), readable, with Retry for transient failures. */
export function ErrorBanner({ error, onRetry, context, onDismiss }: ErrorBannerProps) {
  if (!error) return null;
  const offline = error.kind === "network";
  return (
    <div className={`banner ${offline ? "banner-warning" : "banner-error"}`} role="alert">
      <span className="banner-text">
        {context ? <strong>{context}: </strong> : null}
        {error.message}
      </span>
      {onRetry ? (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
      {onDismiss ? (
        <button type="button" className="btn btn-small btn-ghost" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      ) : null}
    </div>
  );
}

/** An inline error under a form (no retry: the user edits and submits again). */
export function FormError({ error }: { error: ApiError | null | undefined }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {error.message}
    </p>
  );
}
