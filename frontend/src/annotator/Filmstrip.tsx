/**
 * Thumbnails of the clip's frames with their annotation status; a click goes to the frame. With a
 * propagation selected, frames it reached carry a band, and markers for "silent here" (an object
 * tracked but not sounding: background in AVS) and "check" (tracking confidence dropped).
 */
import { useEffect, useRef } from "react";
import { FRAME_STATUS_LABEL, type FrameStatus } from "../model/frameStatus";
import { frameDescription } from "../model/frameTime";
import { markText, type FrameMark } from "../model/propagation";
import type { ClipFrame } from "./api";
import { SilentIcon } from "./SilentIcon";

interface Props {
  frames: readonly ClipFrame[];
  /** The clip's frame rate: frame k covers [k/fps, (k+1)/fps). */
  fps: number;
  statuses: readonly FrameStatus[];
  dirty: readonly boolean[];
  current: number;
  /** Per frame, what the selected propagation says about it. */
  marks?: readonly FrameMark[];
  onSelect: (position: number) => void;
}

export function Filmstrip({ frames, fps, statuses, dirty, current, marks, onSelect }: Props) {
  const strip = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = strip.current?.querySelector<HTMLElement>('[aria-current="true"]');
    el?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
  }, [current]);
  return (
    <div className="ann-filmstrip" ref={strip} data-testid="filmstrip" role="listbox" aria-label="Frames">
      {frames.map((frame, k) => {
        const status = statuses[k] ?? "none";
        const mark = marks?.[k];
        const marked = mark ? markText(mark) : "";
        const silent = !!mark?.silentLabels.length;
        return (
          <button
            type="button"
            key={frame.id}
            className={`ann-thumb ann-thumb-${status}${k === current ? " ann-thumb-current" : ""}${mark?.propagated || mark?.source ? " ann-thumb-propagated" : ""}`}
            data-testid={`frame-thumb-${frame.index}`}
            data-status={status}
            data-dirty={dirty[k] ? "true" : "false"}
            data-propagated={mark?.propagated ? "true" : "false"}
            data-silent={silent ? "true" : "false"}
            data-check={mark?.check ? "true" : "false"}
            aria-current={k === current ? "true" : undefined}
            title={`${frameDescription(frame.index, frames.length, fps)}: ${FRAME_STATUS_LABEL[status]}${dirty[k] ? ", unsaved changes" : ""}${marked ? `; ${marked}` : ""}`}
            onClick={() => onSelect(k)}
          >
            <img src={frame.image_url} alt="" loading="lazy" draggable={false} />
            <span className="ann-thumb-index">
              {frame.index + 1}
              {dirty[k] ? <span className="ann-thumb-dirty">•</span> : null}
            </span>
            <span className={`ann-thumb-status ann-status-${status}`} aria-hidden="true" />
            {mark?.propagated || mark?.source ? (
              <span className={`ann-thumb-band${mark.source ? " ann-thumb-band-source" : ""}`} data-testid={`frame-propagated-${frame.index}`} aria-hidden="true" />
            ) : null}
            {silent || mark?.check ? (
              <span className="ann-thumb-marks">
                {silent ? (
                  <span
                    className={`ann-thumb-mark ann-mark-silent${mark!.allSilent ? " ann-mark-all" : ""}`}
                    data-testid={`frame-silent-${frame.index}`}
                    title={`Silent here: ${mark!.silentLabels.join(", ")} visible but not sounding (background in AVS)`}
                  >
                    <SilentIcon />
                  </span>
                ) : null}
                {mark?.check ? (
                  <span className="ann-thumb-mark ann-mark-check" data-testid={`frame-check-${frame.index}`} title="Check: tracking confidence dropped here">
                    ⚠
                  </span>
                ) : null}
              </span>
            ) : null}
          </button>
        );
      })}
    </div>
  );
}
