import { Link } from "react-router-dom";
import { ErrorBanner } from "../../../components/ErrorBanner";
import { Loading } from "../../../components/Loading";
import type { LearningSettings } from "../../../hooks/studioApi";
import type { AsyncState } from "../../../hooks/useAsync";
import { AcquisitionStrategyForm } from "./AcquisitionStrategyForm";
import { SelfTrainingForm } from "./SelfTrainingForm";

interface Props {
  projectId: number;
  learning: AsyncState<LearningSettings>;
  /** Managers edit (Settings tab); elsewhere the values are shown read-only. */
  editable: boolean;
  /** Read-only for a manager: link to where they are edited. */
  editLink?: boolean;
}

/** The project's learning settings: self-training (split, thresholds, student, trigger) and acquisition. */
export function LearningSettingsSection({ projectId, learning, editable, editLink = false }: Props) {
  return (
    <section className="panel" aria-label="Learning settings" data-testid="learning-settings">
      <div className="panel-header">
        <h2 className="panel-title">Learning</h2>
        <span className="muted">
          {editable ? "Self-training rounds and the review queue's order." : "Read-only."}
          {editLink ? (
            <>
              {" "}
              <Link to={`/projects/${projectId}?tab=settings`}>Change in Settings</Link>
            </>
          ) : null}
        </span>
      </div>
      <ErrorBanner error={learning.error} onRetry={learning.reload} context="Could not load the learning settings" />
      {learning.data ? (
        <SelfTrainingForm
          projectId={projectId}
          settings={learning.data}
          editable={editable}
          onSaved={(saved) => learning.setData(saved)}
        />
      ) : learning.loading ? (
        <Loading />
      ) : null}
      <hr className="divider" />
      <AcquisitionStrategyForm projectId={projectId} editable={editable} />
    </section>
  );
}
