import { type FormEvent, useEffect, useState } from "react";
import { ErrorBanner } from "../../../components/ErrorBanner";
import { STUDENT_KINDS, type StudentKind, startTrainingRound, type TrainingRound } from "../../../hooks/studioApi";
import { useAction } from "../../../hooks/useAction";
import { STUDENT_LABEL } from "../../../model/training";

interface Props {
  projectId: number;
  /** The project's default student (its learning settings), preselected. */
  defaultKind: StudentKind | undefined;
  /** A round is queued or running: the project runs one at a time. */
  busy: boolean;
  onStarted: (round: TrainingRound) => void;
}

/** "Start a round" (managers): pick the student, post the round; the server's refusal is shown as worded. */
export function StartRoundForm({ projectId, defaultKind, busy, onStarted }: Props) {
  const [kind, setKind] = useState<StudentKind>(defaultKind ?? "compact");
  useEffect(() => {
    if (defaultKind) setKind(defaultKind);
  }, [defaultKind]);
  const start = useAction(() => startTrainingRound(projectId, kind));

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const round = await start.run();
    if (round) onStarted(round);
  };

  return (
    <form className="inline-form" onSubmit={onSubmit} aria-label="Start a training round">
      <label className="checkbox-field">
        Student
        <select
          name="student"
          data-testid="round-student"
          value={kind}
          onChange={(e) => setKind(e.target.value as StudentKind)}
        >
          {STUDENT_KINDS.map((k) => (
            <option key={k} value={k}>
              {STUDENT_LABEL[k] ?? k}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="btn btn-primary btn-small" data-testid="round-start" disabled={start.busy || busy}>
        {start.busy ? "Starting…" : "Start a round"}
      </button>
      {busy ? <span className="muted small">A round is under way: one at a time.</span> : null}
      <div className="field-wide">
        <ErrorBanner error={start.error} onDismiss={start.clearError} context="Could not start a round" />
      </div>
    </form>
  );
}
