/** Typed sample API bodies for page tests (shapes from the generated schema). */
import type {
  AcquisitionStrategy,
  Clip,
  Job,
  Label,
  LearningSettings,
  Me,
  Member,
  ModelVersion,
  Project,
  ProjectDetail,
  TrainingRound,
} from "../studioApi";

const T = "2025-01-02T10:00:00Z";

export function makeMe(overrides: Partial<Me> = {}): Me {
  return {
    id: 1,
    username: "ann",
    email: "ann@example.org",
    first_name: "Ann",
    last_name: "Otator",
    is_superuser: false,
    memberships: [],
    ...overrides,
  };
}

export function makeProject(overrides: Partial<Project> = {}): Project {
  return {
    id: 7,
    name: "Street sounds",
    description: "Cars, dogs and buskers",
    fps: 1,
    frame_max_side: 1280,
    audio_sample_rate: 16000,
    created_at: T,
    updated_at: T,
    role: "manager",
    member_count: 2,
    clip_counts: { total: 4, uploaded: 0, processing: 1, ready: 3, failed: 0 },
    ...overrides,
  };
}

export function makeMember(overrides: Partial<Member> = {}): Member {
  return {
    user_id: 1,
    username: "ann",
    email: "ann@example.org",
    first_name: "Ann",
    last_name: "Otator",
    role: "manager",
    joined_at: T,
    ...overrides,
  };
}

export function makeLabel(overrides: Partial<Label> = {}): Label {
  return { id: 1, name: "dog", color: "#e6194b", ...overrides };
}

export function makeProjectDetail(overrides: Partial<ProjectDetail> = {}): ProjectDetail {
  return {
    ...makeProject(),
    members: [makeMember()],
    labels: [makeLabel()],
    proposer: { kind: "baseline", name: "synchrony-baseline", reason: "No model configuration (AVS_MODEL_CONFIG is unset)." },
    ...overrides,
  };
}

export function makeClip(overrides: Partial<Clip> = {}): Clip {
  return {
    id: 11,
    project_id: 7,
    name: "busker.mp4",
    status: "ready",
    error: "",
    size_bytes: 2_500_000,
    duration: 10,
    source_fps: 25,
    fps: 1,
    width: 640,
    height: 360,
    has_audio: true,
    num_frames: 10,
    split: "train",
    created_at: T,
    updated_at: T,
    ...overrides,
  };
}

export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 100,
    project: 7,
    kind: "ingest",
    status: "running",
    progress: 40,
    message: "Decoding frames",
    error: "",
    target: { type: "media.clip", id: 11 },
    waiting_reason: null,
    created_by: { id: 1, username: "ann" },
    created_at: T,
    updated_at: T,
    started_at: T,
    finished_at: null,
    ...overrides,
  };
}

export function makeModelVersion(overrides: Partial<ModelVersion> = {}): ModelVersion {
  return {
    id: 1,
    project: 7,
    kind: "openavs",
    name: "OpenAVS zero-shot",
    config: {},
    config_hash: "abcdef0123456789",
    checkpoint_path: "",
    metrics: { miou: 0.5, f_score: 0.6 },
    note: "",
    edit_stats: { annotations: 0, mean_iou: null },
    created_at: T,
    updated_at: T,
    ...overrides,
  };
}

export function makeTrainingRound(overrides: Partial<TrainingRound> = {}): TrainingRound {
  return {
    id: 5,
    project: 7,
    status: "succeeded",
    trigger: "api",
    student_kind: "compact",
    config: {},
    base_proposer: { id: 1, kind: "baseline", name: "synchrony-baseline" },
    model_version: { id: 31, kind: "student", name: "compact student (round 5)" },
    promoted: false,
    reason: "",
    error: "",
    metrics: {},
    curve: [],
    items: {},
    cancel_requested: false,
    job_id: 500,
    progress: null,
    created_by: { id: 1, username: "ann" },
    created_at: T,
    started_at: T,
    finished_at: T,
    ...overrides,
  };
}

export function makeLearningSettings(overrides: Partial<LearningSettings> = {}): LearningSettings {
  return {
    heldout_fraction: 0.2,
    split_seed: 0,
    split_locked: false,
    split_counts: { train: 8, heldout: 2 },
    student_kind: "compact",
    student_config: {},
    auto_round_after: 0,
    accepted_since_last_round: 3,
    proposer: null,
    proposer_history: [],
    ...overrides,
  };
}

export function makeAcquisitionStrategy(overrides: Partial<AcquisitionStrategy> = {}): AcquisitionStrategy {
  const defaults = { top_fraction: 0.05, diverse: true, relative_distance: 0.25 };
  return {
    strategy: { name: "combined" },
    settings: { name: "combined", weights: { topk_entropy: 0.35, disagreement: 0.25 }, ...defaults },
    strategies: {
      combined: { name: "combined", weights: { topk_entropy: 0.35, disagreement: 0.25 }, ...defaults },
      entropy: { name: "entropy", weights: { entropy: 1 }, ...defaults },
    },
    terms: { entropy: "mean pixel entropy", topk_entropy: "top-k pixel entropy", disagreement: "teacher–student disagreement" },
    updated_at: null,
    updated_by: null,
    ...overrides,
  };
}
