/**
 * The typed facade the pages use: one function per server operation, returning the schema's
 * types (generated from the OpenAPI schema, never written by hand) or throwing an `ApiError`.
 * Pages never build URLs or parse bodies themselves; only the upload (the tus protocol with
 * progress and resume, see uploadClip.ts) bypasses openapi-fetch, but for reading its result.
 */
import { api } from "../api/client";
import type { components, operations } from "../api/schema";
import { unwrap } from "./apiErrors";

type Schemas = components["schemas"];

export type Me = Schemas["Me"];
export type Project = Schemas["Project"];
export type ProjectDetail = Schemas["ProjectDetail"];
export type ProjectCreateInput = Schemas["ProjectCreateInputRequest"];
export type ProjectUpdateInput = Schemas["PatchedProjectUpdateInputRequest"];
export type Clip = Schemas["Clip"];
export type ClipStatus = Schemas["ClipStatusEnum"];
export type ClipUpload = Schemas["ClipUpload"];
export type ResumableUpload = Schemas["Upload"];
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatusEnum"];
export type WorkerHealth = Schemas["WorkerHealth"];
export type Label = Schemas["Label"];
export type LabelInput = Schemas["LabelInputRequest"];
export type LabelUpdateInput = Schemas["PatchedLabelUpdateInputRequest"];
export type Member = Schemas["Member"];
export type Role = Schemas["RoleEnum"];
export type ModelVersion = Schemas["ModelVersion"];
export type ProjectAnnotation = Schemas["ProjectAnnotation"];
export type ReviewQueueClip = Schemas["ReviewQueueClip"];
export type ReviewBatch = Schemas["ReviewBatch"];
export type Proposer = Schemas["ProjectProposer"];
export type ExportFormat = Schemas["FormatEnum"];
export type ExportProtocol = Schemas["ProtocolEnum"];
export type ExportInput = Schemas["ExportCreateInputRequest"];
export type TrainingRound = Schemas["TrainingRound"];
export type TrainingRoundStatus = Schemas["TrainingRoundStatusEnum"];
export type StudentKind = Schemas["StudentKindEnum"];
export type ModelVersionBrief = Schemas["ModelVersionBrief"];
export type LearningSettings = Schemas["LearningSettings"];
export type LearningSettingsInput = Schemas["PatchedLearningSettingsInputRequest"];
export type ProposerChange = Schemas["ProposerChange"];
export type AcquisitionStrategy = Schemas["AcquisitionStrategy"];
export type ModelConfigList = Schemas["ModelConfigList"];
export type ModelConfigEntry = Schemas["ModelConfigEntry"];
export type ModelConfigPreview = Schemas["ModelConfigPreview"];
export type LabelStudioConnection = Schemas["LabelStudioConnection"];
export type LabelStudioConnectionInput = Schemas["LabelStudioConnectionInputRequest"];
export type LabelStudioImportStatus = Schemas["ImportStatusEnum"];
export type BucketObjectList = Schemas["BucketObjectList"];
export type BucketObject = Schemas["BucketObject"];

/** One page of a list endpoint: `{count, next, previous, results}`. */
export interface Page<T> {
  count: number;
  next?: string | null;
  previous?: string | null;
  results: T[];
}

export type ProjectListQuery = NonNullable<operations["projects_list"]["parameters"]["query"]>;
export type ClipListQuery = NonNullable<operations["projects_clips_list"]["parameters"]["query"]>;
export type JobListQuery = NonNullable<operations["projects_jobs_list"]["parameters"]["query"]>;

export const CLIP_STATUSES: readonly ClipStatus[] = ["uploaded", "processing", "ready", "failed"];
export const ROLES: readonly Role[] = ["manager", "annotator", "reviewer"];
export const EXPORT_FORMATS: readonly ExportFormat[] = ["avsbench", "coco", "json"];
export const EXPORT_PROTOCOLS: readonly ExportProtocol[] = ["s4", "ms3", "avss"];
export const STUDENT_KINDS: readonly StudentKind[] = ["compact", "av2t_sam"];

/** Drop empty strings and undefined from a query, so the URL carries only what was chosen. */
function compact<T extends object>(query: T): T {
  return Object.fromEntries(
    Object.entries(query).filter(([, value]) => value !== undefined && value !== ""),
  ) as T;
}

// --- session -----------------------------------------------------------------------------------

export function fetchMe(): Promise<Me> {
  return unwrap(api.GET("/api/auth/me/"));
}

/** Start a session (the server sets the session cookie); a readable error on bad credentials. */
export function signIn(username: string, password: string): Promise<Me> {
  return unwrap(api.POST("/api/auth/login/", { body: { username, password } }));
}

export async function signOut(): Promise<void> {
  await unwrap(api.POST("/api/auth/logout/"));
}

// --- projects ----------------------------------------------------------------------------------

export function listProjects(query: ProjectListQuery = {}): Promise<Page<Project>> {
  return unwrap(api.GET("/api/projects/", { params: { query: compact(query) } }));
}

export function createProject(body: ProjectCreateInput): Promise<ProjectDetail> {
  return unwrap(api.POST("/api/projects/", { body }));
}

export function getProject(projectId: number): Promise<ProjectDetail> {
  return unwrap(api.GET("/api/projects/{project_id}/", { params: { path: { project_id: projectId } } }));
}

export function updateProject(projectId: number, body: ProjectUpdateInput): Promise<ProjectDetail> {
  return unwrap(
    api.PATCH("/api/projects/{project_id}/", { params: { path: { project_id: projectId } }, body }),
  );
}

export async function deleteProject(projectId: number): Promise<void> {
  await unwrap(api.DELETE("/api/projects/{project_id}/", { params: { path: { project_id: projectId } } }));
}

// --- clips and jobs ----------------------------------------------------------------------------

export function listClips(projectId: number, query: ClipListQuery = {}): Promise<Page<Clip>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/clips/", {
      params: { path: { project_id: projectId }, query: compact(query) },
    }),
  );
}

export function listJobs(projectId: number, query: JobListQuery = {}): Promise<Page<Job>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/jobs/", {
      params: { path: { project_id: projectId }, query: compact(query) },
    }),
  );
}

/** Alive workers, their queues and queue lengths (admins and managers; cached a few seconds by the server). */
export function getWorkerHealth(refresh = false): Promise<WorkerHealth> {
  return unwrap(api.GET("/api/workers/", { params: { query: refresh ? { refresh: true } : {} } }));
}

/** A resumable upload's state (its creator only): once done, its clip and ingest job. */
export function getUpload(uploadId: string): Promise<ResumableUpload> {
  return unwrap(api.GET("/api/uploads/{upload_id}/", { params: { path: { upload_id: uploadId } } }));
}

export function retryIngest(clipId: number) {
  return unwrap(api.POST("/api/clips/{clip_id}/ingest/", { params: { path: { clip_id: clipId } } }));
}

/**
 * Queue pre-annotation with the project's proposer (managers): `clipIds` (ready clips of the
 * project), or every ready clip when omitted. Answers at once with the job.
 */
export function preannotateProject(projectId: number, clipIds?: number[]): Promise<Job> {
  return unwrap(
    api.POST("/api/projects/{project_id}/preannotate/", {
      params: { path: { project_id: projectId } },
      body: clipIds && clipIds.length > 0 ? { clips: clipIds } : {},
    }),
  );
}

// --- import from a bucket ----------------------------------------------------------------------

/**
 * The video objects of a bucket location (`s3://bucket/prefix/`, managers), each new or already in the project;
 * `url` omitted: the first location the server allows. `sources` empty: import from storage is off.
 */
export function listBucketObjects(projectId: number, url?: string): Promise<BucketObjectList> {
  return unwrap(
    api.GET("/api/projects/{project_id}/storage/objects/", {
      params: { path: { project_id: projectId }, query: url ? { url } : {} },
    }),
  );
}

/** Import the new videos of a bucket location as clips (managers): one job; each new clip gets its ingest job. */
export function importFromBucket(projectId: number, url: string): Promise<Job> {
  return unwrap(
    api.POST("/api/projects/{project_id}/storage/import/", { params: { path: { project_id: projectId } }, body: { url } }),
  );
}

// --- exports -----------------------------------------------------------------------------------

/** Queue an export archive of the project's annotations (managers); a 400 says e.g. there is nothing to export. */
export function startExport(projectId: number, body: ExportInput): Promise<Job> {
  return unwrap(
    api.POST("/api/projects/{project_id}/exports/", { params: { path: { project_id: projectId } }, body }),
  );
}

/** Where a succeeded export job's archive downloads from (a plain link: the browser saves the zip). */
export function exportDownloadUrl(jobId: number): string {
  return `/api/exports/${jobId}/download/`;
}

// --- members -----------------------------------------------------------------------------------

export function listMembers(projectId: number): Promise<Page<Member>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/members/", {
      params: { path: { project_id: projectId }, query: { page_size: 500 } },
    }),
  );
}

export function addMember(projectId: number, username: string, role: Role): Promise<Member> {
  return unwrap(
    api.POST("/api/projects/{project_id}/members/", {
      params: { path: { project_id: projectId } },
      body: { username, role },
    }),
  );
}

export function changeMemberRole(projectId: number, userId: number, role: Role): Promise<Member> {
  return unwrap(
    api.PATCH("/api/projects/{project_id}/members/{user_id}/", {
      params: { path: { project_id: projectId, user_id: userId } },
      body: { role },
    }),
  );
}

export async function removeMember(projectId: number, userId: number): Promise<void> {
  await unwrap(
    api.DELETE("/api/projects/{project_id}/members/{user_id}/", {
      params: { path: { project_id: projectId, user_id: userId } },
    }),
  );
}

// --- labels ------------------------------------------------------------------------------------

export function listLabels(projectId: number): Promise<Page<Label>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/labels/", {
      params: { path: { project_id: projectId }, query: { page_size: 500 } },
    }),
  );
}

export function createLabel(projectId: number, body: LabelInput): Promise<Label> {
  return unwrap(
    api.POST("/api/projects/{project_id}/labels/", { params: { path: { project_id: projectId } }, body }),
  );
}

export function updateLabel(labelId: number, body: LabelUpdateInput): Promise<Label> {
  return unwrap(api.PATCH("/api/labels/{label_id}/", { params: { path: { label_id: labelId } }, body }));
}

export async function deleteLabel(labelId: number): Promise<void> {
  await unwrap(api.DELETE("/api/labels/{label_id}/", { params: { path: { label_id: labelId } } }));
}

// --- models ------------------------------------------------------------------------------------

export function listModelVersions(projectId: number): Promise<Page<ModelVersion>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/model-versions/", {
      params: { path: { project_id: projectId }, query: { page_size: 100 } },
    }),
  );
}

/** Score a model version's proposals against the accepted annotations of every ready clip (managers). */
export function startEvaluation(projectId: number, modelVersionId: number): Promise<Job> {
  return unwrap(
    api.POST("/api/projects/{project_id}/evaluate/", {
      params: { path: { project_id: projectId } },
      body: { model_version: modelVersionId, split: "all", name: "" },
    }),
  );
}

// --- self-training: rounds, the proposer, learning settings ------------------------------------

/** A project's training rounds, newest first, each with its job's progress and its held-out figures. */
export function listTrainingRounds(projectId: number): Promise<Page<TrainingRound>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/training-rounds/", {
      params: { path: { project_id: projectId }, query: { page_size: 20 } },
    }),
  );
}

/**
 * Start a self-training round (managers): `student` picks the student (default: the project's
 * learning settings). Answers at once with the queued round; a 409 says one is already running.
 */
export function startTrainingRound(projectId: number, student?: StudentKind): Promise<TrainingRound> {
  return unwrap(
    api.POST("/api/projects/{project_id}/training-rounds/", {
      params: { path: { project_id: projectId } },
      body: student ? { student } : {},
    }),
  );
}

/** Cancel a queued or running round (managers); the proposer is kept. */
export function cancelTrainingRound(roundId: number): Promise<TrainingRound> {
  return unwrap(api.POST("/api/training-rounds/{round_id}/cancel/", { params: { path: { round_id: roundId } } }));
}

export function getLearningSettings(projectId: number): Promise<LearningSettings> {
  return unwrap(
    api.GET("/api/projects/{project_id}/learning-settings/", { params: { path: { project_id: projectId } } }),
  );
}

/** Change the split, the student, its training settings or the automatic trigger (managers). */
export function updateLearningSettings(projectId: number, body: LearningSettingsInput): Promise<LearningSettings> {
  return unwrap(
    api.PATCH("/api/projects/{project_id}/learning-settings/", {
      params: { path: { project_id: projectId } },
      body,
    }),
  );
}

/** Make a model version the project's proposer (managers); answers with the learning settings. */
export function promoteModelVersion(modelVersionId: number): Promise<LearningSettings> {
  return unwrap(
    api.POST("/api/model-versions/{model_version_id}/promote/", {
      params: { path: { model_version_id: modelVersionId } },
    }),
  );
}

/** Put back the proposer the current one replaced (managers); answers with the learning settings. */
export function rollbackProposer(projectId: number): Promise<LearningSettings> {
  return unwrap(
    api.POST("/api/projects/{project_id}/proposer/rollback/", {
      params: { path: { project_id: projectId } },
      body: { to_configured: false },
    }),
  );
}

export function getAcquisitionStrategy(projectId: number): Promise<AcquisitionStrategy> {
  return unwrap(
    api.GET("/api/projects/{project_id}/acquisition-strategy/", { params: { path: { project_id: projectId } } }),
  );
}

/** Set the acquisition strategy (managers): a name or its settings; the pool is rescored in the background. */
export function setAcquisitionStrategy(projectId: number, strategy: unknown): Promise<AcquisitionStrategy> {
  return unwrap(
    api.PUT("/api/projects/{project_id}/acquisition-strategy/", {
      params: { path: { project_id: projectId } },
      body: { strategy, rescore: true },
    }),
  );
}

// --- model configuration (administrators) ------------------------------------------------------

/** The configurations in the server's model folder, each with what it would run or why it cannot. */
export function listModelConfigs(projectId: number): Promise<ModelConfigList> {
  return unwrap(api.GET("/api/projects/{project_id}/model-configs/", { params: { path: { project_id: projectId } } }));
}

/** What pre-annotating the project would run with `config` chosen ("" = the server's default); saves nothing. */
export function previewModelConfig(projectId: number, config: string): Promise<ModelConfigPreview> {
  return unwrap(
    api.GET("/api/projects/{project_id}/model-configs/preview/", {
      params: { path: { project_id: projectId }, query: { config } },
    }),
  );
}

/** Make `config` (as listed; "" = the server's default) the project's model configuration. */
export function chooseModelConfig(projectId: number, config: string): Promise<ModelConfigPreview> {
  return unwrap(
    api.PUT("/api/projects/{project_id}/model-config/", { params: { path: { project_id: projectId } }, body: { config } }),
  );
}

// --- review ------------------------------------------------------------------------------------

export type ProjectAnnotationQuery = NonNullable<operations["projects_annotations_list"]["parameters"]["query"]>;

/** A project's annotations, e.g. `{status: "submitted"}` for the reviewers' list. */
export function listProjectAnnotations(
  projectId: number,
  query: ProjectAnnotationQuery = {},
): Promise<Page<ProjectAnnotation>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/annotations/", {
      params: { path: { project_id: projectId }, query: compact(query) },
    }),
  );
}

export type ReviewQueueQuery = NonNullable<operations["projects_review_queue_list"]["parameters"]["query"]>;

/** Ready clips in the order to annotate them: highest acquisition score first. */
export function listReviewQueue(projectId: number, query: ReviewQueueQuery = {}): Promise<Page<ReviewQueueClip>> {
  return unwrap(
    api.GET("/api/projects/{project_id}/review-queue/", {
      params: { path: { project_id: projectId }, query: compact(query) },
    }),
  );
}

/**
 * The next `size` clips to label: best acquisition score first, near-duplicates of a picked or fully labelled
 * clip left out (diverse strategies). Nothing is assigned or stored.
 */
export function selectReviewBatch(projectId: number, size: number): Promise<ReviewBatch> {
  return unwrap(
    api.POST("/api/projects/{project_id}/queue/batch/", {
      params: { path: { project_id: projectId } },
      body: { size },
    }),
  );
}

// --- Label Studio connection (managers) --------------------------------------------------------

/** The project's Label Studio connection (`connected: false` and nulls when none is set up). */
export function getLabelStudio(projectId: number): Promise<LabelStudioConnection> {
  return unwrap(api.GET("/api/projects/{project_id}/labelstudio/", { params: { path: { project_id: projectId } } }));
}

/** Set the URL, the import status and (when given) the write-only token; nothing reaches Label Studio until a push. */
export function updateLabelStudio(projectId: number, body: LabelStudioConnectionInput): Promise<LabelStudioConnection> {
  return unwrap(
    api.PUT("/api/projects/{project_id}/labelstudio/", { params: { path: { project_id: projectId } }, body }),
  );
}

/** Queue a push of the project's frames, audio and proposals to Label Studio; answers with the job. */
export async function pushLabelStudio(projectId: number): Promise<Job> {
  const started = await unwrap(
    api.POST("/api/projects/{project_id}/labelstudio/push/", { params: { path: { project_id: projectId } } }),
  );
  return started.job;
}

/** Queue an import of Label Studio's annotations into the project; answers with the job. */
export async function pullLabelStudio(projectId: number): Promise<Job> {
  const started = await unwrap(
    api.POST("/api/projects/{project_id}/labelstudio/pull/", { params: { path: { project_id: projectId } } }),
  );
  return started.job;
}
