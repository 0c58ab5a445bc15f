/**
 * Keyboard input of the annotator: the active tool gets the key first (Enter/Escape/Backspace of
 * the polygon, Escape of SAM), then the shortcut table (`model/keymap`) dispatches to the session.
 * Keys typed into inputs are left alone; shortcuts pause while the conflict dialog is open.
 */
import { useEffect } from "react";
import type { AnnotationCanvas } from "../canvas/AnnotationCanvas";
import { matchShortcut, type Action } from "../model/keymap";
import type { AnnotatorSession } from "./session";
import type { WaveformControls } from "./WaveformPanel";

function isTextInput(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  if (el.tagName === "INPUT") {
    const type = (el as HTMLInputElement).type;
    return !["checkbox", "radio", "range", "button"].includes(type);
  }
  return el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT";
}

/** Actions that may auto-repeat while their key is held. */
const REPEATABLE = new Set<Action>(["frame.next", "frame.previous", "brush.smaller", "brush.larger", "undo", "redo"]);

export function useAnnotatorKeys(
  session: AnnotatorSession | null,
  canvas: React.RefObject<AnnotationCanvas | null>,
  waveform: React.RefObject<WaveformControls | null>,
): void {
  useEffect(() => {
    if (!session) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || isTextInput(e.target)) return;
      const snap = session.getSnapshot();
      if (snap.phase !== "ready" || snap.conflict) return;
      session.activity();
      if (snap.helpOpen && (e.key === "Escape" || e.key === "?")) {
        e.preventDefault();
        session.toggleHelp(false);
        return;
      }
      if (canvas.current?.handleKey(e)) {
        e.preventDefault();
        return;
      }
      const action = matchShortcut(e);
      if (!action) return;
      e.preventDefault();
      if (e.repeat && !REPEATABLE.has(action)) return; // holding C must not copy ten times
      switch (action) {
        case "tool.brush":
          return session.setTool("brush");
        case "tool.eraser":
          return session.setTool("eraser");
        case "tool.polygon":
          return session.setTool("polygon");
        case "tool.sam":
          return session.setTool("samClick");
        case "tool.select":
          return session.setTool("select");
        case "sam.negative":
          return session.toggleSamNegative();
        case "brush.smaller":
          return session.stepBrushSize(-1);
        case "brush.larger":
          return session.stepBrushSize(1);
        case "frame.next":
          return session.nextFrame();
        case "frame.previous":
          return session.previousFrame();
        case "undo":
          canvas.current?.cancel();
          return session.undo();
        case "redo":
          canvas.current?.cancel();
          return session.redo();
        case "save":
          return void session.saveNow();
        case "copy.next":
          return session.copySelectedToNext();
        case "propagate":
          return void session.startPropagation();
        case "proposals.toggle":
          return session.setOverlay({ visible: !snap.overlayVisible });
        case "instance.delete":
          return session.deleteInstance();
        case "instance.visibility":
          return session.toggleHidden();
        case "instance.deselect":
          return snap.helpOpen ? session.toggleHelp(false) : session.select(null);
        case "view.fit":
          return canvas.current?.fit();
        case "audio.playPause":
          return waveform.current?.playPause();
        case "help":
          return session.toggleHelp();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [session, canvas, waveform]);
}
