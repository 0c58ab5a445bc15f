/**
 * Pure helpers for self-training rounds (no React): reading a round's held-out figures and loss
 * curve out of its JSON fields, the progress line, and the points of the loss plot.
 *
 * A round's `metrics` (server/learning/training.py): `{split: "heldout", student: Figures,
 * proposer: Figures, training: {curve, items, ...}, compared_clips, skipped_clips, ...}`, where
 * Figures are the evaluation's headline numbers of the student and of the proposer the round
 * started with, both measured on the same held-out clips. `curve`: the mean training loss per epoch.
 */
import type { TrainingRound } from "../hooks/studioApi";

export function isRoundActive(round: Pick<TrainingRound, "status">): boolean {
  return round.status === "queued" || round.status === "running";
}

/** One row of the held-out comparison: a headline figure, and whether higher is better. */
export interface FigureRow {
  key: string;
  label: string;
  /** Counts (clips, frames) are shown but not compared. */
  compare: boolean;
}

export const HELDOUT_ROWS: readonly FigureRow[] = [
  { key: "miou", label: "mIoU", compare: true },
  { key: "fscore", label: "F-score", compare: true },
  { key: "fscore_at_0_5", label: "F-score @ 0.5", compare: true },
  { key: "semantic_miou", label: "Semantic mIoU", compare: true },
  { key: "semantic_fscore", label: "Semantic F-score", compare: true },
  { key: "n_clips", label: "Clips", compare: false },
  { key: "n_frames", label: "Frames", compare: false },
];

export type Figures = Record<string, number | null>;

export interface HeldoutComparison {
  student: Figures;
  proposer: Figures;
  /** The rows either side has a number for, in HELDOUT_ROWS order. */
  rows: FigureRow[];
  /** Held-out clips left out because a model could not propose them. */
  skipped: number;
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function figuresOf(value: unknown): Figures | null {
  const record = asRecord(value);
  if (!record) return null;
  const out: Figures = {};
  for (const { key } of HELDOUT_ROWS) {
    const figure = record[key];
    out[key] = typeof figure === "number" && Number.isFinite(figure) ? figure : null;
  }
  return out;
}

/** The student's and the proposer's held-out figures side by side; null until the round was judged. */
export function heldoutComparison(metrics: unknown): HeldoutComparison | null {
  const record = asRecord(metrics);
  const student = figuresOf(record?.student);
  const proposer = figuresOf(record?.proposer);
  if (!record || !student || !proposer) return null;
  const rows = HELDOUT_ROWS.filter((row) => student[row.key] !== null || proposer[row.key] !== null);
  const skipped = Array.isArray(record.skipped_clips) ? record.skipped_clips.length : 0;
  return { student, proposer, rows, skipped };
}

/** Which side wins a row: "student", "proposer", or null (a tie, a count, or a missing number). */
export function rowWinner(row: FigureRow, comparison: HeldoutComparison): "student" | "proposer" | null {
  const s = comparison.student[row.key];
  const p = comparison.proposer[row.key];
  if (!row.compare || s === null || p === null || s === p) return null;
  return s > p ? "student" : "proposer";
}

function finiteNumbers(value: unknown): number[] | null {
  if (!Array.isArray(value)) return null;
  const numbers = value.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  return numbers.length === value.length ? numbers : null;
}

/** The mean training loss per epoch: the round's `curve`, else its `metrics.training.curve`, else []. */
export function lossCurve(round: Pick<TrainingRound, "curve" | "metrics">): number[] {
  const direct = finiteNumbers(round.curve);
  if (direct && direct.length > 0) return direct;
  const training = asRecord(asRecord(round.metrics)?.training);
  return finiteNumbers(training?.curve) ?? [];
}

/**
 * The SVG polyline points of `values` in a `width`×`height` box with `pad` px inside each edge:
 * x from left (first epoch) to right (last), y from bottom (lowest value) to top (highest).
 * A single value or a flat curve is drawn as a level line at mid-height.
 */
export function curvePoints(values: readonly number[], width: number, height: number, pad = 2): string {
  if (values.length === 0) return "";
  const min = Math.min(...values);
  const max = Math.max(...values);
  const innerW = Math.max(width - 2 * pad, 0);
  const innerH = Math.max(height - 2 * pad, 0);
  const x = (i: number) => pad + (innerW * i) / Math.max(values.length - 1, 1);
  const y = (v: number) => (max === min ? pad + innerH / 2 : pad + innerH * (1 - (v - min) / (max - min)));
  // A lone value is drawn as a level segment across the box, so that it shows.
  if (values.length === 1) return `${pad},${round2(y(values[0]))} ${round2(pad + innerW)},${round2(y(values[0]))}`;
  return values.map((v, i) => `${round2(x(i))},${round2(y(v))}`).join(" ");
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Seconds left as "40 s", "12 min", "1.5 h". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** "Epoch 3 of 8 · loss 0.2134 · about 2 min left" while training; else the job's message. */
export function progressLine(progress: TrainingRound["progress"]): string {
  if (!progress) return "";
  if (progress.phase === "training" && progress.epoch !== null && progress.epochs !== null) {
    const parts = [`Epoch ${progress.epoch} of ${progress.epochs}`];
    if (progress.loss !== null) parts.push(`loss ${progress.loss.toPrecision(4)}`);
    if (progress.eta_seconds !== null) parts.push(`about ${formatEta(progress.eta_seconds)} left`);
    return parts.join(" · ");
  }
  return progress.message;
}

export const STUDENT_LABEL: Record<string, string> = {
  compact: "Compact AVS student",
  av2t_sam: "AV2T-SAM student",
};
