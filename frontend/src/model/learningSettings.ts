/**
 * The self-training settings form as plain values (strings, as inputs hold them), and the PATCH
 * body of what changed. Only changed fields are sent: the server refuses a change of the split once
 * a round has run, and an unchanged split must not count as one.
 *
 * The pseudo-label thresholds are the student's training settings `pseudo_low` / `pseudo_high`
 * (pixels whose proposer probability lies between them are ignored in the loss), kept in the
 * project's `student_config` overrides; an empty field means the student's own default.
 */
import type { LearningSettings, LearningSettingsInput, StudentKind } from "../hooks/studioApi";

export interface LearningFormValues {
  heldoutFraction: string;
  splitSeed: string;
  pseudoLow: string;
  pseudoHigh: string;
  studentKind: StudentKind;
  autoRoundAfter: string;
}

function studentConfigOf(settings: LearningSettings): Record<string, unknown> {
  const config = settings.student_config;
  return config && typeof config === "object" && !Array.isArray(config) ? { ...(config as Record<string, unknown>) } : {};
}

function text(value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : "";
}

export function learningFormValues(settings: LearningSettings): LearningFormValues {
  const config = studentConfigOf(settings);
  return {
    heldoutFraction: text(settings.heldout_fraction),
    splitSeed: text(settings.split_seed),
    pseudoLow: text(config.pseudo_low),
    pseudoHigh: text(config.pseudo_high),
    studentKind: settings.student_kind ?? "compact",
    autoRoundAfter: text(settings.auto_round_after ?? 0),
  };
}

/** A number from an input's text; "" → undefined (unset); anything else not a number → NaN (the server says why). */
function numberOf(value: string): number | undefined {
  const trimmed = value.trim();
  return trimmed === "" ? undefined : Number(trimmed);
}

/**
 * The PATCH body: the fields whose value differs from `settings` (an empty field of the split or
 * the trigger is left as it is). Values are sent as typed; the server checks their ranges.
 */
export function learningSettingsChanges(settings: LearningSettings, values: LearningFormValues): LearningSettingsInput {
  const body: LearningSettingsInput = {};
  const fraction = numberOf(values.heldoutFraction);
  if (fraction !== undefined && fraction !== settings.heldout_fraction) body.heldout_fraction = fraction;
  const seed = numberOf(values.splitSeed);
  if (seed !== undefined && seed !== settings.split_seed) body.split_seed = seed;
  if (values.studentKind !== settings.student_kind) body.student_kind = values.studentKind;
  const auto = numberOf(values.autoRoundAfter);
  if (auto !== undefined && auto !== (settings.auto_round_after ?? 0)) body.auto_round_after = auto;

  const config = studentConfigOf(settings);
  const next = { ...config };
  for (const [key, value] of [
    ["pseudo_low", numberOf(values.pseudoLow)],
    ["pseudo_high", numberOf(values.pseudoHigh)],
  ] as const) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  if (next.pseudo_low !== config.pseudo_low || next.pseudo_high !== config.pseudo_high) body.student_config = next;
  return body;
}
