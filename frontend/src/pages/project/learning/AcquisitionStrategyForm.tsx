import { type FormEvent, useEffect, useState } from "react";
import { ErrorBanner, FormError } from "../../../components/ErrorBanner";
import { Loading } from "../../../components/Loading";
import { type AcquisitionStrategy, getAcquisitionStrategy, setAcquisitionStrategy } from "../../../hooks/studioApi";
import { useAction } from "../../../hooks/useAction";
import { useAsync } from "../../../hooks/useAsync";
import { Field, fieldError } from "./Field";

interface Props {
  projectId: number;
  editable: boolean;
}

type Settings = Record<string, unknown>;

function nameOf(settings: Settings): string {
  return typeof settings.name === "string" ? settings.name : "";
}

/** "top-k pixel entropy × 0.35, teacher–student disagreement × 0.25, …" for a strategy's weights. */
export function strategyTerms(settings: Settings | undefined, terms: Record<string, string>): string {
  const weights = settings?.weights;
  if (!weights || typeof weights !== "object") return "";
  return Object.entries(weights as Record<string, unknown>)
    .filter(([, w]) => typeof w === "number" && w > 0)
    .map(([term, w]) => `${terms[term] ?? term} × ${w}`)
    .join(", ");
}

/**
 * The acquisition strategy that scores clips for the review queue (and picks batches): a named
 * strategy, and whether batches skip near-duplicates. Saving rescores the pool in the background.
 */
export function AcquisitionStrategyForm({ projectId, editable }: Props) {
  const current = useAsync(() => getAcquisitionStrategy(projectId), [projectId]);
  if (current.loading && !current.data) return <Loading />;
  if (!current.data) return <ErrorBanner error={current.error} onRetry={current.reload} context="Could not load the strategy" />;
  return (
    <StrategyEditor projectId={projectId} editable={editable} current={current.data} onSaved={(s) => current.setData(s)} />
  );
}

function StrategyEditor({
  projectId,
  editable,
  current,
  onSaved,
}: Props & { current: AcquisitionStrategy; onSaved: (s: AcquisitionStrategy) => void }) {
  const [name, setName] = useState(nameOf(current.settings));
  const [diverse, setDiverse] = useState(current.settings.diverse !== false);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setName(nameOf(current.settings));
    setDiverse(current.settings.diverse !== false);
  }, [current]);
  // Another strategy starts from its defaults; the same one keeps what was set (e.g. custom weights).
  const body = () => (name === nameOf(current.strategy) ? { ...current.strategy, diverse } : { name, diverse });
  const save = useAction(() => setAcquisitionStrategy(projectId, body()));
  const names = Object.keys(current.strategies);
  const chosen = current.strategies[name] as Settings | undefined;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    const result = await save.run();
    if (result) {
      onSaved(result);
      setSaved(true);
    }
  };

  return (
    <form className="form-grid" onSubmit={onSubmit} aria-label="Acquisition strategy" data-testid="strategy-form">
      <fieldset className="field-wide fieldset-plain" disabled={!editable}>
        <div className="form-grid">
          <Field
            label="Acquisition strategy"
            error={fieldError(save.error, "name") ?? fieldError(save.error, "strategy")}
            hint={strategyTerms(name === nameOf(current.strategy) ? current.settings : chosen, current.terms)}
          >
            <select
              name="strategy"
              data-testid="strategy-name"
              value={name}
              onChange={(e) => {
                setSaved(false);
                setName(e.target.value);
              }}
            >
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </Field>
          <label className="checkbox-field">
            <input
              type="checkbox"
              name="diverse"
              checked={diverse}
              onChange={(e) => {
                setSaved(false);
                setDiverse(e.target.checked);
              }}
            />
            Diverse batches (leave out near-duplicates of picked clips)
          </label>
        </div>
      </fieldset>
      {current.updated_by ? (
        <p className="muted small field-wide">Last changed by {current.updated_by}.</p>
      ) : null}
      {editable ? (
        <div className="field-wide">
          <FormError error={save.error} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={save.busy} data-testid="save-strategy">
              {save.busy ? "Saving…" : "Save strategy"}
            </button>
            {saved ? <span className="ok">Saved: the review queue is being rescored.</span> : null}
          </div>
        </div>
      ) : null}
    </form>
  );
}
