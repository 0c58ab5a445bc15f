import type { ReactNode } from "react";
import type { ApiError } from "../../../hooks/apiErrors";

/** The message of a refused save that concerns `field` (DRF field errors, or an ApplicationError's extra.field/setting). */
export function fieldError(error: ApiError | null, field: string): string | undefined {
  if (!error) return undefined;
  const named = error.extra.field ?? error.extra.setting;
  return error.fieldErrors[field] ?? (named === field ? error.message : undefined);
}

/** A labelled input with the server's message for it (or a hint) underneath. */
export function Field({ label, error, hint, children }: { label: string; error?: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <label className={`field${error ? " field-invalid" : ""}`}>
      <span>{label}</span>
      {children}
      {error ? (
        <small className="field-error" role="alert">
          {error}
        </small>
      ) : hint ? (
        <small className="field-hint">{hint}</small>
      ) : null}
    </label>
  );
}
