import { type FormEvent, useEffect, useState } from "react";
import { FormError } from "../../../components/ErrorBanner";
import { type LearningSettings, STUDENT_KINDS, type StudentKind, updateLearningSettings } from "../../../hooks/studioApi";
import { useAction } from "../../../hooks/useAction";
import { type LearningFormValues, learningFormValues, learningSettingsChanges } from "../../../model/learningSettings";
import { STUDENT_LABEL } from "../../../model/training";
import { Field, fieldError } from "./Field";

const THRESHOLDS = new Set(["pseudo_low", "pseudo_high"]);

interface Props {
  projectId: number;
  settings: LearningSettings;
  /** Managers edit; everybody else sees the values read-only. */
  editable: boolean;
  onSaved: (settings: LearningSettings) => void;
}

/**
 * Self-training settings: the held-out split (fraction, seed; locked once a round has run), the
 * pseudo-label thresholds, the default student and the automatic trigger. Shows the server's
 * validation message when it refuses a value.
 */
export function SelfTrainingForm({ projectId, settings, editable, onSaved }: Props) {
  const [values, setValues] = useState<LearningFormValues>(() => learningFormValues(settings));
  const [saved, setSaved] = useState(false);
  useEffect(() => setValues(learningFormValues(settings)), [settings]);
  const save = useAction(() => updateLearningSettings(projectId, learningSettingsChanges(settings, values)));
  const set = (key: keyof LearningFormValues) => (event: { target: { value: string } }) => {
    setSaved(false);
    setValues((v) => ({ ...v, [key]: event.target.value }));
  };
  const splitLocked = settings.split_locked;
  const counts = settings.split_counts;
  const thresholdsError = fieldError(save.error, "student_config");

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
    <form className="form-grid" onSubmit={onSubmit} aria-label="Self-training settings" data-testid="learning-form">
      <fieldset className="field-wide fieldset-plain" disabled={!editable}>
        <div className="form-grid">
          <Field
            label="Held-out fraction"
            error={fieldError(save.error, "heldout_fraction")}
            hint={splitLocked ? "Locked: rounds were trained and judged on this split." : "Share of clips never trained on, 0–0.9."}
          >
            <input
              name="heldout_fraction"
              type="number"
              step="any"
              disabled={splitLocked}
              value={values.heldoutFraction}
              onChange={set("heldoutFraction")}
            />
          </Field>
          <Field
            label="Split seed"
            error={fieldError(save.error, "split_seed")}
            hint={`${counts.train ?? 0} training / ${counts.heldout ?? 0} held-out clips`}
          >
            <input
              name="split_seed"
              type="number"
              step={1}
              disabled={splitLocked}
              value={values.splitSeed}
              onChange={set("splitSeed")}
            />
          </Field>
          <Field
            label="Pseudo-label low threshold"
            error={thresholdsError}
            hint="Proposer probabilities between low and high are ignored in the loss. Empty: the student's default."
          >
            <input name="pseudo_low" type="number" step="any" placeholder="default" value={values.pseudoLow} onChange={set("pseudoLow")} />
          </Field>
          <Field label="Pseudo-label high threshold" error={thresholdsError}>
            <input name="pseudo_high" type="number" step="any" placeholder="default" value={values.pseudoHigh} onChange={set("pseudoHigh")} />
          </Field>
          <Field label="Student" error={fieldError(save.error, "student_kind")} hint="What rounds train unless told otherwise.">
            <select name="student_kind" value={values.studentKind} onChange={(e) => setValues((v) => ({ ...v, studentKind: e.target.value as StudentKind }))}>
              {STUDENT_KINDS.map((k) => (
                <option key={k} value={k}>
                  {STUDENT_LABEL[k] ?? k}
                </option>
              ))}
            </select>
          </Field>
          <Field
            label="Start a round after N accepted annotations"
            error={fieldError(save.error, "auto_round_after")}
            hint={`0: never. ${settings.accepted_since_last_round} accepted since the last round.`}
          >
            <input name="auto_round_after" type="number" step={1} value={values.autoRoundAfter} onChange={set("autoRoundAfter")} />
          </Field>
        </div>
      </fieldset>
      <OtherTrainingSettings config={settings.student_config} />
      {editable ? (
        <div className="field-wide">
          <FormError error={save.error} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={save.busy} data-testid="save-learning">
              {save.busy ? "Saving…" : "Save self-training settings"}
            </button>
            {saved ? <span className="ok">Saved.</span> : null}
          </div>
        </div>
      ) : null}
    </form>
  );
}

/** The student's other training overrides (set through the API or `manage.py train`), as `key = value`. */
function OtherTrainingSettings({ config }: { config: unknown }) {
  if (!config || typeof config !== "object" || Array.isArray(config)) return null;
  const others = Object.entries(config as Record<string, unknown>).filter(([key]) => !THRESHOLDS.has(key));
  if (others.length === 0) return null;
  return (
    <p className="muted small field-wide config-list">
      Other training settings of the student:{" "}
      <span className="mono">{others.map(([key, value]) => `${key} = ${String(value)}`).join(", ")}</span>
    </p>
  );
}
