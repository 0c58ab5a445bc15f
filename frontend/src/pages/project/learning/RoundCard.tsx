import { ConfirmButton } from "../../../components/ConfirmButton";
import { ErrorBanner } from "../../../components/ErrorBanner";
import { formatAgo, plural } from "../../../components/format";
import { ProgressBar } from "../../../components/ProgressBar";
import { StatusBadge } from "../../../components/StatusBadge";
import type { TrainingRound } from "../../../hooks/studioApi";
import { useAction } from "../../../hooks/useAction";
import { heldoutComparison, isRoundActive, lossCurve, progressLine, STUDENT_LABEL } from "../../../model/training";
import { HeldoutTable } from "./HeldoutTable";
import { LossCurve } from "./LossCurve";

interface Props {
  round: TrainingRound;
  /** The project's proposer now (a model version id), or null for the configured one. */
  proposerId: number | null;
  canManage: boolean;
  onCancel: (round: TrainingRound) => Promise<unknown>;
  onPromote: (modelVersionId: number) => Promise<unknown>;
}

/**
 * One training round: status, progress while it runs (epoch, loss, ETA), what it trained on, its
 * held-out figures beside the proposer's, the loss curve and why it was (not) promoted. Managers
 * cancel a running round, or promote its student when the rule did not.
 */
export function RoundCard({ round, proposerId, canManage, onCancel, onPromote }: Props) {
  const cancel = useAction(() => onCancel(round));
  const promote = useAction((id: number) => onPromote(id));
  const active = isRoundActive(round);
  const comparison = heldoutComparison(round.metrics);
  const curve = lossCurve(round);
  const student = round.model_version;
  const canPromote = canManage && round.status === "succeeded" && student !== null && student.id !== proposerId;

  return (
    <article className="round" data-testid={`round-${round.id}`} data-status={round.status}>
      <header className="round-header">
        <strong>Round {round.id}</strong>
        <StatusBadge status={round.status} />
        {round.promoted ? <StatusBadge status="succeeded" label="promoted" /> : null}
        {student !== null && student.id === proposerId ? <StatusBadge status="kind-student" label="proposer" /> : null}
        <span>{STUDENT_LABEL[round.student_kind] ?? round.student_kind}</span>
        <span className="muted small">
          {startedBy(round)} {formatAgo(round.created_at)}
        </span>
        <span className="toolbar-spacer" />
        {canManage && active ? (
          <ConfirmButton
            label={round.cancel_requested ? "Cancelling…" : "Cancel"}
            confirmLabel="Cancel this round?"
            disabled={cancel.busy || round.cancel_requested}
            onConfirm={() => void cancel.run()}
            testId={`round-cancel-${round.id}`}
          />
        ) : null}
        {canPromote ? (
          <button
            type="button"
            className="btn btn-small"
            data-testid={`round-promote-${round.id}`}
            disabled={promote.busy}
            title="Make this round's student the project's proposer"
            onClick={() => void promote.run(student.id)}
          >
            {promote.busy ? "Promoting…" : "Promote"}
          </button>
        ) : null}
      </header>
      <ErrorBanner error={cancel.error} onDismiss={cancel.clearError} context="Could not cancel the round" />
      <ErrorBanner error={promote.error} onDismiss={promote.clearError} context="Could not promote the student" />
      {active ? <RoundProgress round={round} /> : null}
      {round.status === "failed" && round.error ? (
        <p className="row-error" role="alert">
          {round.error}
        </p>
      ) : null}
      {round.reason ? (
        <p className="small" data-testid={`round-reason-${round.id}`}>
          {round.reason}
        </p>
      ) : null}
      <TrainedOn items={round.items} />
      {comparison || curve.length > 0 ? (
        <div className="round-body">
          {comparison ? (
            <HeldoutTable
              comparison={comparison}
              proposerName={round.base_proposer?.name ?? "deleted version"}
              testId={`round-heldout-${round.id}`}
            />
          ) : null}
          <LossCurve values={curve} testId={`round-curve-${round.id}`} />
        </div>
      ) : null}
    </article>
  );
}

function startedBy(round: TrainingRound): string {
  if (round.trigger === "auto") return "started automatically";
  if (round.created_by) return `started by ${round.created_by.username}`;
  return round.trigger === "command" ? "started by manage.py train" : "started";
}

function RoundProgress({ round }: { round: TrainingRound }) {
  const progress = round.progress;
  const percent = progress?.percent ?? 0;
  return (
    <div className="round-progress" data-testid={`round-progress-${round.id}`}>
      <ProgressBar value={percent / 100} active={round.status === "running"} label={`${percent}%`} title="Round progress" />
      <div className="job-message">{progressLine(progress) || (round.status === "queued" ? "Waiting for a worker…" : "")}</div>
    </div>
  );
}

function TrainedOn({ items }: { items: TrainingRound["items"] }) {
  if (items.human_items === undefined && items.pseudo_items === undefined) return null;
  return (
    <p className="small muted">
      Trained on {items.human_items ?? 0} human-labelled and {plural(items.pseudo_items ?? 0, "pseudo-labelled frame")}{" "}
      of {plural(items.train_clips ?? 0, "training clip")}; {plural(items.heldout_clips ?? 0, "clip")} held out.
    </p>
  );
}
