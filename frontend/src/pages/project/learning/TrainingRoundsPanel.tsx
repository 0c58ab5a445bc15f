import { ErrorBanner } from "../../../components/ErrorBanner";
import { EmptyState, Loading } from "../../../components/Loading";
import type { StudentKind, TrainingRound } from "../../../hooks/studioApi";
import type { TrainingRoundsState } from "../../../hooks/useTrainingRounds";
import { isRoundActive } from "../../../model/training";
import { RoundCard } from "./RoundCard";
import { StartRoundForm } from "./StartRoundForm";

interface Props {
  projectId: number;
  rounds: TrainingRoundsState;
  canManage: boolean;
  /** The project's proposer now (a model version id), or null for the configured one. */
  proposerId: number | null;
  defaultStudent: StudentKind | undefined;
  onStarted: (round: TrainingRound) => void;
  onCancel: (round: TrainingRound) => Promise<unknown>;
  onPromote: (modelVersionId: number) => Promise<unknown>;
}

/**
 * Self-training rounds, newest first (re-read every 2 s while one runs): each trains a student on the
 * accepted annotations and the proposer's pseudo-labels and is judged on the held-out split.
 */
export function TrainingRoundsPanel({
  projectId,
  rounds,
  canManage,
  proposerId,
  defaultStudent,
  onStarted,
  onCancel,
  onPromote,
}: Props) {
  const running = rounds.rounds.some(isRoundActive);
  return (
    <section className="panel" aria-label="Training rounds">
      <div className="panel-header">
        <h2 className="panel-title">Training rounds</h2>
        <span className="muted">
          {rounds.polling
            ? "Updating every 2 s…"
            : "A student is promoted to proposer only when it beats the proposer on the held-out split (mIoU, then F)."}
        </span>
      </div>
      {canManage ? (
        <StartRoundForm projectId={projectId} defaultKind={defaultStudent} busy={running} onStarted={onStarted} />
      ) : null}
      <ErrorBanner error={rounds.error} onRetry={rounds.refresh} context="Could not load training rounds" />
      {rounds.loading ? (
        <Loading />
      ) : rounds.rounds.length === 0 ? (
        <EmptyState title="No training rounds yet.">
          {canManage ? "Start one above, or let accepted annotations start one (Settings)." : "Managers start them."}
        </EmptyState>
      ) : (
        <div className="stack">
          {rounds.rounds.map((round) => (
            <RoundCard
              key={round.id}
              round={round}
              proposerId={proposerId}
              canManage={canManage}
              onCancel={onCancel}
              onPromote={onPromote}
            />
          ))}
        </div>
      )}
    </section>
  );
}
