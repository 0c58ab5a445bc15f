/** Typed sample API bodies for page tests (shapes from the generated schema). */
import type { Clip, Job, Label, Me, Member, ModelVersion, Project, ProjectDetail } from "../studioApi";

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
