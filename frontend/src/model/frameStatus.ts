/** The status a frame shows in the filmstrip. */
import type { components } from "../api/schema";

export type AnnotationStatus = components["schemas"]["AnnotationStatusEnum"];
export type FrameStatus = "none" | AnnotationStatus;

export const FRAME_STATUS_LABEL: Record<FrameStatus, string> = {
  none: "not annotated",
  draft: "draft",
  submitted: "submitted",
  accepted: "accepted",
  rejected: "rejected",
};

export function frameStatus(annotation: { status?: AnnotationStatus } | null | undefined): FrameStatus {
  return annotation ? (annotation.status ?? "draft") : "none";
}
