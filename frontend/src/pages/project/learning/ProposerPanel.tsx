import { ErrorBanner } from "../../../components/ErrorBanner";
import { formatAgo } from "../../../components/format";
import type { LearningSettings, Proposer, ProposerChange } from "../../../hooks/studioApi";
import { useAction } from "../../../hooks/useAction";
import { ProposerStatus } from "../ProposerStatus";

const HISTORY_SHOWN = 5;

interface Props {
  learning: LearningSettings;
  /** What pre-annotation runs, as the project reports it (kind and name). */
  proposer: Proposer | undefined;
  canManage: boolean;
  onRollback: () => Promise<unknown>;
}

/** The project's proposer, its latest changes, and (managers) a roll back to the one it replaced. */
export function ProposerPanel({ learning, proposer, canManage, onRollback }: Props) {
  const rollback = useAction(onRollback);
  const history = learning.proposer_history.slice(0, HISTORY_SHOWN);
  return (
    <section className="panel" aria-label="Proposer">
      <div className="panel-header">
        <h2 className="panel-title">Proposer</h2>
        <ProposerStatus proposer={proposer} />
        {learning.proposer === null ? <span className="muted small">(the configured proposer)</span> : null}
        <span className="toolbar-spacer" />
        {canManage && learning.proposer !== null ? (
          <button
            type="button"
            className="btn btn-small"
            data-testid="proposer-rollback"
            disabled={rollback.busy}
            title="Put back the proposer the current one replaced"
            onClick={() => void rollback.run()}
          >
            {rollback.busy ? "Rolling back…" : "Roll back"}
          </button>
        ) : null}
      </div>
      <ErrorBanner error={rollback.error} onDismiss={rollback.clearError} context="Could not roll back" />
      {history.length > 0 ? (
        <ul className="proposer-history" aria-label="Proposer changes">
          {history.map((change) => (
            <li key={change.id} className="small" data-testid={`proposer-change-${change.id}`}>
              {changeText(change)} <span className="muted">{formatAgo(change.created_at)}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">Never changed: rounds promote a student when it beats the proposer on the held-out split.</p>
      )}
    </section>
  );
}

function versionName(version: ProposerChange["model_version"]): string {
  return version ? `${version.name} (#${version.id})` : "the configured proposer";
}

function changeText(change: ProposerChange): string {
  const verb = change.action === "rollback" ? "Rolled back to" : "Promoted";
  const who = change.changed_by
    ? ` by ${change.changed_by.username}`
    : change.training_round
      ? ` by round ${change.training_round}`
      : "";
  return `${verb} ${versionName(change.model_version)}${who}, replacing ${versionName(change.previous)}.`;
}
