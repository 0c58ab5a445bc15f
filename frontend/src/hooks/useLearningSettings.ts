import { getLearningSettings, type LearningSettings } from "./studioApi";
import { type AsyncState, useAsync } from "./useAsync";

/** The project's learning settings, re-read when `version` changes (e.g. a round ended). */
export function useLearningSettings(projectId: number, version = 0): AsyncState<LearningSettings> {
  return useAsync(() => getLearningSettings(projectId), [projectId, version]);
}
