/** Thumbnails of the clip's frames with their annotation status; a click goes to the frame. */
import { useEffect, useRef } from "react";
import { FRAME_STATUS_LABEL, type FrameStatus } from "../model/frameStatus";
import { frameDescription } from "../model/frameTime";
import type { ClipFrame } from "./api";

interface Props {
  frames: readonly ClipFrame[];
  /** The clip's frame rate: frame k covers [k/fps, (k+1)/fps). */
  fps: number;
  statuses: readonly FrameStatus[];
  dirty: readonly boolean[];
  current: number;
  onSelect: (position: number) => void;
}

export function Filmstrip({ frames, fps, statuses, dirty, current, onSelect }: Props) {
  const strip = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = strip.current?.querySelector<HTMLElement>('[aria-current="true"]');
    el?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
  }, [current]);
  return (
    <div className="ann-filmstrip" ref={strip} data-testid="filmstrip" role="listbox" aria-label="Frames">
      {frames.map((frame, k) => {
        const status = statuses[k] ?? "none";
        return (
          <button
            type="button"
            key={frame.id}
            className={`ann-thumb ann-thumb-${status}${k === current ? " ann-thumb-current" : ""}`}
            data-testid={`frame-thumb-${frame.index}`}
            data-status={status}
            data-dirty={dirty[k] ? "true" : "false"}
            aria-current={k === current ? "true" : undefined}
            title={`${frameDescription(frame.index, frames.length, fps)}: ${FRAME_STATUS_LABEL[status]}${dirty[k] ? ", unsaved changes" : ""}`}
            onClick={() => onSelect(k)}
          >
            <img src={frame.image_url} alt="" loading="lazy" draggable={false} />
            <span className="ann-thumb-index">
              {frame.index + 1}
              {dirty[k] ? <span className="ann-thumb-dirty">•</span> : null}
            </span>
            <span className={`ann-thumb-status ann-status-${status}`} aria-hidden="true" />
          </button>
        );
      })}
    </div>
  );
}
