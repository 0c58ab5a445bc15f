/**
 * Hosts the canvas facade (`canvas/AnnotationCanvas`) for the current frame: feeds it the frame
 * image, the instances, the proposal (or propagation) overlay, the tool and its options, and routes its events to
 * the session. Holds no annotation state of its own.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { AnnotationCanvas, type CanvasInstance, type CanvasProposal, type HoverInfo } from "../canvas/AnnotationCanvas";
import type { ToolName } from "../canvas/tools/types";
import { frameLabel } from "../model/frameTime";
import { decodeRle } from "../model/rle";
import type { Mask } from "../model/mask";
import { loadImage, preloadImages } from "./images";
import type { AnnotatorSession, SessionSnapshot } from "./session";

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
  /** The facade, for keyboard routing and view commands. */
  canvasRef: React.RefObject<AnnotationCanvas | null>;
  /** A frame's image has been drawn. */
  onReady: (frameId: number) => void;
  onHover: (hover: HoverInfo | null) => void;
}

/** Decoded proposal masks, by RLE object (decoded once per proposal instance). */
const proposalMasks = new WeakMap<object, Mask>();

function proposalMask(rle: { size: number[]; counts: string }): Mask | null {
  let mask = proposalMasks.get(rle);
  if (!mask) {
    try {
      mask = decodeRle(rle);
    } catch {
      return null;
    }
    proposalMasks.set(rle, mask);
  }
  return mask;
}

export function CanvasView({ session, snap, canvasRef, onReady, onHover }: Props) {
  const element = useRef<HTMLCanvasElement>(null);
  const [imageError, setImageError] = useState<string | null>(null);
  const callbacks = useRef({ onReady, onHover });
  callbacks.current = { onReady, onHover };

  useEffect(() => {
    const canvas = new AnnotationCanvas(element.current!);
    canvasRef.current = canvas;
    const offs = [
      canvas.on("edit", (e) => session.applyEdit(e.changes)),
      canvas.on("samprompt", (prompt) => void session.samPrompt(prompt)),
      canvas.on("select", ({ instanceId }) => session.select(instanceId)),
      canvas.on("hover", (hover) => callbacks.current.onHover(hover)),
      canvas.on("ready", ({ frameKey }) => callbacks.current.onReady(Number(frameKey))),
    ];
    return () => {
      for (const off of offs) off();
      canvas.destroy();
      canvasRef.current = null;
    };
  }, [session, canvasRef]);

  // The frame image: shown as soon as it is decoded; neighbours are fetched meanwhile.
  const frame = snap.frame;
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !frame) return;
    let cancelled = false;
    setImageError(null);
    const base = { key: String(frame.id), width: frame.width, height: frame.height };
    canvas.setFrame({ ...base, image: null });
    loadImage(frame.image_url).then(
      (image) => {
        if (!cancelled) canvas.setFrame({ ...base, image });
      },
      (e: Error) => {
        if (!cancelled) setImageError(e.message);
      },
    );
    const k = snap.frameIndex;
    preloadImages([snap.frames[k + 1], snap.frames[k - 1], snap.frames[k + 2]].filter(Boolean).map((f) => f!.image_url));
    return () => {
      cancelled = true;
    };
  }, [frame?.id, canvasRef]); // only a new frame reloads the image

  const instances = useMemo<CanvasInstance[]>(
    () =>
      (snap.doc?.instances ?? []).map((i) => ({
        id: i.id,
        mask: i.mask,
        color: snap.colours.get(i.label) ?? "#ffffff",
        visible: !snap.hiddenIds.has(i.id),
      })),
    [snap.doc, snap.colours, snap.hiddenIds],
  );
  const primary = snap.selectedIds.length ? snap.selectedIds[snap.selectedIds.length - 1] : null;
  useEffect(() => {
    canvasRef.current?.setInstances(instances, primary);
  }, [instances, primary, canvasRef, frame?.id]);

  const proposalInstances = snap.overlayInstances;
  useEffect(() => {
    const layers: CanvasProposal[] = [];
    for (const p of proposalInstances) {
      const mask = proposalMask(p.mask);
      if (mask && frame && mask.width === frame.width && mask.height === frame.height) {
        layers.push({ mask, color: snap.colours.get(p.label) ?? "#ffffff" });
      }
    }
    canvasRef.current?.setProposals(layers);
  }, [proposalInstances, snap.colours, frame, canvasRef]);

  useEffect(() => {
    canvasRef.current?.setOverlay({ visible: snap.overlayVisible, opacity: snap.overlayOpacity });
  }, [snap.overlayVisible, snap.overlayOpacity, canvasRef]);

  const tool: ToolName | null = snap.phase !== "ready" ? null : snap.canEdit ? snap.tool : snap.tool === "select" ? "select" : null;
  useEffect(() => {
    canvasRef.current?.setTool(tool);
  }, [tool, canvasRef]);

  useEffect(() => {
    canvasRef.current?.setOptions({ brushSize: snap.brushSize, samNegative: snap.samNegative });
  }, [snap.brushSize, snap.samNegative, canvasRef]);

  return (
    <div className="ann-canvas-wrap">
      <canvas
        ref={element}
        className="ann-canvas"
        data-testid="annotator-canvas"
        data-tool={tool ?? "none"}
        aria-label={`${frame ? frameLabel(frame.index, snap.frames.length) : "Frame"}: ${tool ?? "view only"}`}
        tabIndex={0}
      />
      {imageError ? (
        <div className="ann-canvas-error" role="alert">
          {imageError}
        </div>
      ) : null}
    </div>
  );
}
