import type { Abilities } from "../../../hooks/roles";
import { cancelTrainingRound, promoteModelVersion, type Proposer, rollbackProposer, type TrainingRound } from "../../../hooks/studioApi";
import type { JobsState } from "../../../hooks/useJobs";
import { useLearningSettings } from "../../../hooks/useLearningSettings";
import { useTrainingRounds } from "../../../hooks/useTrainingRounds";
import { ModelsPanel } from "../ModelsPanel";
import { LearningSettingsSection } from "./LearningSettingsSection";
import { ProposerPanel } from "./ProposerPanel";
import { TrainingRoundsPanel } from "./TrainingRoundsPanel";

interface Props {
  projectId: number;
  can: Abilities;
  jobs: JobsState;
  /** Changes when a job has finished: model versions and learning settings are re-read. */
  version: number;
  proposer: Proposer | undefined;
  /** The proposer or the model versions changed (a round ended, a promotion, a roll back). */
  onChanged: () => void;
}

/**
 * The Models tab: the proposer (roll back), training rounds (start, progress, held-out figures,
 * promote, cancel), the learning settings (read-only here) and every model version's metrics.
 */
export function ModelsTab({ projectId, can, jobs, version, proposer, onChanged }: Props) {
  const learning = useLearningSettings(projectId, version);
  const rounds = useTrainingRounds(projectId, { onSettled: onChanged });
  const setLearning = learning.setData;

  const onStarted = (round: TrainingRound) => {
    rounds.track(round);
    jobs.refresh(); // the round's job
  };
  const onCancel = async (round: TrainingRound) => {
    rounds.track(await cancelTrainingRound(round.id));
    jobs.refresh();
  };
  const onPromote = async (modelVersionId: number) => {
    setLearning(await promoteModelVersion(modelVersionId));
    onChanged();
  };
  const onRollback = async () => {
    setLearning(await rollbackProposer(projectId));
    onChanged();
  };

  return (
    <div className="stack">
      {learning.data ? (
        <ProposerPanel learning={learning.data} proposer={proposer} canManage={can.manage} onRollback={onRollback} />
      ) : null}
      <TrainingRoundsPanel
        projectId={projectId}
        rounds={rounds}
        canManage={can.manage}
        proposerId={learning.data?.proposer?.id ?? null}
        defaultStudent={learning.data?.student_kind}
        onStarted={onStarted}
        onCancel={onCancel}
        onPromote={onPromote}
      />
      <ModelsPanel projectId={projectId} can={can} jobs={jobs} version={version} />
      <LearningSettingsSection projectId={projectId} learning={learning} editable={false} editLink={can.manage} />
    </div>
  );
}
